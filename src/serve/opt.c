/*
 * opt.c: command-line option helpers; see opt.h.
 */
#include "opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n])
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "anpr: %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int opt_int(const char *name, const char *val, long long min, long long max,
            long long *out)
{
    char *end;
    long long v = strtoll(val, &end, 10);
    if (!*val || *end || v < min || v > max) {
        fprintf(stderr, "anpr: %s must be a whole number from %lld to %lld\n", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}
