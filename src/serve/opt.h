/*
 * opt.h: reading "--name VALUE" and "--name=VALUE" options, for the
 * serve command and the API's command-line clients.
 */
#ifndef ANPR_OPT_H
#define ANPR_OPT_H

/*
 * If argv[*i] is option `name` ("--db"), sets *val to its value (the rest
 * after '=' or the next argument, advancing *i) and returns 1; returns 0 if
 * it is another option, and -1 (having printed why) if the value is
 * missing.
 */
int opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* Parses a whole number in [min, max]; -1 (having printed why) if not. */
int opt_int(const char *name, const char *val, long long min, long long max,
            long long *out);

#endif
