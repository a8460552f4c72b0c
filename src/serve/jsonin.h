/*
 * jsonin.h: reading fields of a client's JSON object with their types and
 * ranges checked. Each returns 0 when the field is fine or absent (and not
 * required; *out is then left as it was), and -1 with a message naming the
 * field in err (JSONIN_ERR bytes) otherwise. Wrong types are errors, not
 * conversions.
 */
#ifndef ANPR_JSONIN_H
#define ANPR_JSONIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JSONIN_ERR 256

/* A string of printable text (valid_text) at most max bytes, copied to
 * out (room for max + 1). */
int jsonin_text(json_t *o, const char *key, int required, char *out,
                size_t max, char *err);

/* A string (any content, at most max bytes); *out borrows from o. */
int jsonin_string(json_t *o, const char *key, int required, size_t max,
                  const char **out, char *err);

/* An integer in [min, max]. */
int jsonin_int(json_t *o, const char *key, int required, int64_t min,
               int64_t max, int64_t *out, char *err);

/* A number (integer or real) in [min, max]. */
int jsonin_number(json_t *o, const char *key, int required, double min,
                  double max, double *out, char *err);

/* A time string (when_parse) or integer milliseconds. */
int jsonin_time(json_t *o, const char *key, int required, int64_t *out,
                char *err);

#endif
