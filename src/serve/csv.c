/*
 * csv.c: the CSV reader for hotlist imports; see csv.h.
 */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>

int csv_parse(const char *text, size_t len,
              int (*row)(void *ctx, int line, char **fields, int n), void *ctx,
              char *err, size_t errlen)
{
    static _Thread_local char buf[CSV_MAX_FIELDS][CSV_MAX_FIELD];
    char *fields[CSV_MAX_FIELDS];
    size_t i = 0;
    int line = 1;
    while (i < len) {
        int start = line, nf = 0, quoted_any = 0;
        size_t fl = 0;
        for (;;) {
            if (nf == CSV_MAX_FIELDS) {
                snprintf(err, errlen, "line %d: more than %d fields", start, CSV_MAX_FIELDS);
                return start;
            }
            fl = 0;
            int quoted = i < len && text[i] == '"';
            quoted_any |= quoted;
            if (quoted)
                i++;
            for (;;) {
                if (i >= len) {
                    if (quoted) {
                        snprintf(err, errlen, "line %d: unterminated quote", start);
                        return start;
                    }
                    break;
                }
                char ch = text[i];
                if (ch == 0) {
                    snprintf(err, errlen, "line %d: a NUL byte", line);
                    return line;
                }
                if (quoted && ch == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        i++;
                    } else {
                        quoted = 0;
                        i++;
                        if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                            snprintf(err, errlen, "line %d: text after a closing quote", line);
                            return line;
                        }
                        continue;
                    }
                } else if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) {
                    break;
                } else if (!quoted && ch == '"') {
                    snprintf(err, errlen, "line %d: a quote inside an unquoted field", line);
                    return line;
                }
                if (ch == '\n')
                    line++;
                if (fl + 1 >= CSV_MAX_FIELD) {
                    snprintf(err, errlen, "line %d: a field longer than %d bytes", line,
                             CSV_MAX_FIELD - 1);
                    return line;
                }
                buf[nf][fl++] = text[i++];
            }
            buf[nf][fl] = 0;
            fields[nf] = buf[nf];
            nf++;
            if (i < len && text[i] == ',') {
                i++;
                continue;
            }
            /* End of record: CRLF, LF, CR or end of text. */
            if (i < len && text[i] == '\r')
                i++;
            if (i < len && text[i] == '\n')
                i++;
            line++;
            break;
        }
        if (nf == 1 && !fields[0][0] && !quoted_any)
            continue;
        if (row(ctx, start, fields, nf))
            return start;
    }
    return 0;
}
