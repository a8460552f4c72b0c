/*
 * jsonin.c: checked reading of JSON fields; see jsonin.h.
 */
#include "jsonin.h"

#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <string.h>

/* The field, NULL when absent (or null); -1 if required and missing. */
static int field(json_t *o, const char *key, int required, json_t **v, char *err)
{
    *v = json_object_get(o, key);
    if (*v && json_is_null(*v))
        *v = NULL;
    if (!*v && required) {
        snprintf(err, JSONIN_ERR, "'%s' is required", key);
        return -1;
    }
    return 0;
}

int jsonin_string(json_t *o, const char *key, int required, size_t max,
                  const char **out, char *err)
{
    json_t *v;
    if (field(o, key, required, &v, err))
        return -1;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, JSONIN_ERR, "'%s' must be a string", key);
        return -1;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, JSONIN_ERR, "'%s' is longer than %zu bytes or holds a NUL", key, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int jsonin_text(json_t *o, const char *key, int required, char *out,
                size_t max, char *err)
{
    const char *s = NULL;
    if (jsonin_string(o, key, required, max, &s, err))
        return -1;
    if (!s)
        return 0;
    if (!valid_text(s, max)) {
        snprintf(err, JSONIN_ERR, "'%s' holds control characters", key);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int jsonin_int(json_t *o, const char *key, int required, int64_t min,
               int64_t max, int64_t *out, char *err)
{
    json_t *v;
    if (field(o, key, required, &v, err))
        return -1;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, JSONIN_ERR, "'%s' must be an integer from %lld to %lld", key,
                 (long long)min, (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int jsonin_number(json_t *o, const char *key, int required, double min,
                  double max, double *out, char *err)
{
    json_t *v;
    if (field(o, key, required, &v, err))
        return -1;
    if (!v)
        return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= min && d <= max)) {
        snprintf(err, JSONIN_ERR, "'%s' must be a number from %g to %g", key, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int jsonin_time(json_t *o, const char *key, int required, int64_t *out, char *err)
{
    json_t *v;
    if (field(o, key, required, &v, err))
        return -1;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v) || when_parse(json_string_value(v), out)) {
        snprintf(err, JSONIN_ERR, "'%s' must be a UTC time like 2026-11-24T10:15:30.123Z",
                 key);
        return -1;
    }
    return 0;
}
