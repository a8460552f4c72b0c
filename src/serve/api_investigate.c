/*
 * api_investigate.c: investigation tools over stored reads: first and last
 * sighting of a vehicle, convoy analysis (who travels with a target), and
 * journeys between two cameras. Each is a look into reads, so each obeys
 * the access wall and is audited like a search.
 */
#include "api.h"

#include "jsonout.h"
#include "valid.h"

#include <stdio.h>

/* The vrm argument, required and exact; answers 400 and returns NULL. */
static const char *exact_vrm(api_call *c)
{
    const char *vrm = http_arg(c->r, "vrm");
    if (!valid_vrm(vrm)) {
        http_error(c->r, 400, "'vrm' must be a VRM: 1 to 10 of A-Z and 0-9");
        return NULL;
    }
    return vrm;
}

/* from and to, checked against the access wall. */
static int window(api_call *c, int64_t *from, int64_t *to)
{
    *from = *to = 0;
    return api_query_time(c, "from", from) || api_query_time(c, "to", to)
           || api_access_check(c, from);
}

void api_seen(api_call *c)
{
    const char *vrm = exact_vrm(c);
    int64_t from, to, count = 0;
    if (!vrm || window(c, &from, &to))
        return;
    store_read first, last;
    store_code rc = c->srv->st->ops->first_last_seen(c->srv->st, vrm, from, to, &first,
                                                     &last, &count);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        api_store_fail(c, rc);
        return;
    }
    int found = rc == STORE_OK;
    json_t *asked = json_pack("{s:s, s:I, s:I}", "vrm", vrm, "from", (json_int_t)from,
                              "to", (json_int_t)to);
    json_t *ids = found ? json_pack("[s, s]", first.id, last.id) : json_array();
    if (api_audit(c, "seen", asked, found ? count : 0, ids))
        return;
    http_json(c->r, 200, json_pack("{s:s, s:I, s:o, s:o}", "vrm", vrm, "count",
                                   (json_int_t)(found ? count : 0),
                                   "first", found ? read_json(&first) : json_null(),
                                   "last", found ? read_json(&last) : json_null()));
}

typedef struct rows {
    json_t *list, *ids;
} rows;

static int convoy_row(void *ctx, const store_convoy *v)
{
    rows *r = ctx;
    json_array_append_new(r->list, json_pack("{s:s, s:I, s:I}", "vrm", v->vrm, "count",
                                             (json_int_t)v->count, "cameras",
                                             (json_int_t)v->cameras));
    json_array_append_new(r->ids, json_string(v->vrm));
    return 0;
}

void api_convoy(api_call *c)
{
    const char *vrm = exact_vrm(c);
    int64_t from, to, window_s, min, limit;
    if (!vrm || window(c, &from, &to)
        || api_query_int(c, "window", 60, 1, 3600, &window_s)
        || api_query_int(c, "min", 2, 1, 1000, &min)
        || api_query_int(c, "limit", 100, 1, 1000, &limit))
        return;
    rows r = { json_array(), json_array() };
    store_code rc = c->srv->st->ops->convoy(c->srv->st, vrm, from, to, window_s * 1000,
                                            (int)min, (int)limit, convoy_row, &r);
    if (rc != STORE_OK) {
        json_decref(r.list);
        json_decref(r.ids);
        api_store_fail(c, rc);
        return;
    }
    json_t *asked = json_pack("{s:s, s:I, s:I, s:I, s:I}", "vrm", vrm, "from",
                              (json_int_t)from, "to", (json_int_t)to, "window",
                              (json_int_t)window_s, "min", (json_int_t)min);
    if (api_audit(c, "convoy", asked, (int64_t)json_array_size(r.list), r.ids)) {
        json_decref(r.list);
        return;
    }
    http_json(c->r, 200, json_pack("{s:s, s:I, s:I, s:o}", "vrm", vrm, "window",
                                   (json_int_t)window_s, "min", (json_int_t)min,
                                   "vehicles", r.list));
}

static int journey_row(void *ctx, const store_journey *j)
{
    rows *r = ctx;
    json_array_append_new(r->list, json_pack("{s:s, s:s, s:o, s:s, s:o, s:f}", "vrm", j->vrm,
                                             "read_a", j->read_a, "time_a", time_json(j->time_a),
                                             "read_b", j->read_b, "time_b", time_json(j->time_b),
                                             "seconds", (j->time_b - j->time_a) / 1000.0));
    json_array_append_new(r->ids, json_pack("[s, s]", j->read_a, j->read_b));
    return 0;
}

void api_journeys(api_call *c)
{
    const char *a = http_arg(c->r, "from_camera"), *b = http_arg(c->r, "to_camera");
    const char *vrm = http_arg(c->r, "vrm");
    int64_t from, to, max_s, limit;
    if (!valid_id(a) || !valid_id(b)) {
        http_error(c->r, 400, "'from_camera' and 'to_camera' must be camera IDs");
        return;
    }
    if (vrm && !valid_vrm(vrm)) {
        http_error(c->r, 400, "'vrm' must be a VRM: 1 to 10 of A-Z and 0-9");
        return;
    }
    if (window(c, &from, &to) || api_query_int(c, "max", 3600, 1, 7 * 86400, &max_s)
        || api_query_int(c, "limit", 100, 1, 1000, &limit))
        return;
    rows r = { json_array(), json_array() };
    store_code rc = c->srv->st->ops->journeys(c->srv->st, a, b, vrm, from, to, max_s * 1000,
                                              (int)limit, journey_row, &r);
    if (rc != STORE_OK) {
        json_decref(r.list);
        json_decref(r.ids);
        api_store_fail(c, rc);
        return;
    }
    json_t *asked = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:I}", "from_camera", a,
                              "to_camera", b, "vrm", vrm, "from", (json_int_t)from,
                              "to", (json_int_t)to, "max", (json_int_t)max_s);
    if (api_audit(c, "journeys", asked, (int64_t)json_array_size(r.list), r.ids)) {
        json_decref(r.list);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o}", "journeys", r.list));
}
