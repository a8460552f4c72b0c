/*
 * jsonout.h: how the API writes each kind of stored row as JSON. One
 * writer per kind, used by every answer, stream and webhook that shows it.
 * Each returns a new reference, or NULL when out of memory.
 */
#ifndef ANPR_JSONOUT_H
#define ANPR_JSONOUT_H

#include "store.h"

#include <jansson.h>

json_t *read_json(const store_read *r);
json_t *alert_json(const store_alert *a);
json_t *camera_json(const store_camera *c);
json_t *hotlist_json(const store_hotlist *h);
json_t *entry_json(const store_entry *e);

/* How every JSON answer, event and webhook body is written: compact, with
 * reals to 10 significant digits (0.97, not 0.96999999999999997). */
#define JSONOUT_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* A time as an ISO 8601 string, or JSON null for 0. */
json_t *time_json(int64_t ms);

/* The name of a match kind: "exact", "pattern", "fuzzy". */
const char *match_name(store_match m);

#endif
