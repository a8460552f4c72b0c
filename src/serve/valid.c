/*
 * valid.c: input rules and VRM helpers; see valid.h.
 */
#include "valid.h"

#include "../lib/syntax.h"

#include <stdio.h>
#include <string.h>

static int all_of(const char *s, size_t max, const char *extra)
{
    if (!s || !*s || strlen(s) > max)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || (extra && strchr(extra, c))))
            return 0;
    }
    return 1;
}

int valid_vrm(const char *s)
{
    return all_of(s, VALID_VRM_MAX, NULL);
}

int valid_pattern(const char *s)
{
    return all_of(s, VALID_PATTERN_MAX, "*?") && strpbrk(s, "*?");
}

int valid_id(const char *s)
{
    return all_of(s, 64, "abcdefghijklmnopqrstuvwxyz._:-");
}

int valid_name(const char *s)
{
    return all_of(s, 64, "abcdefghijklmnopqrstuvwxyz._-");
}

int valid_text(const char *s, size_t max)
{
    if (!s || strlen(s) > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

void valid_key(const char *vrm, char out[16])
{
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%s", vrm);
    syntax_canonical(tmp, out);
}

int valid_substitutions(const char *a, const char *b)
{
    int n = 0;
    for (; *a && *b; a++, b++)
        n += *a != *b;
    return n;
}

int valid_glob(const char *p, const char *s)
{
    /* Iterative with one backtrack point: linear for these short strings. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (*p == '*') {
            star = p++;
            resume = s;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return !*p;
}
