/*
 * csv.h: a strict RFC 4180 reader for hotlist imports: fields separated by
 * commas, optionally in double quotes (a doubled quote inside is one
 * quote), lines ending in LF or CRLF. Blank lines are skipped.
 */
#ifndef ANPR_CSV_H
#define ANPR_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS 16
#define CSV_MAX_FIELD 512

/*
 * Calls row(ctx, line, fields, n) for each record (line counts from 1).
 * Returns 0 when every row was accepted, or the line number where it
 * stopped: a row returned nonzero (its message is its own business), or
 * the text broke the rules (message in err): a NUL byte, an unterminated
 * quote, too many or too long fields.
 */
int csv_parse(const char *text, size_t len,
              int (*row)(void *ctx, int line, char **fields, int n), void *ctx,
              char *err, size_t errlen);

#endif
