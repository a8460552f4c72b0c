/*
 * jsonout.c: the JSON forms of stored rows; see jsonout.h.
 */
#include "jsonout.h"

#include "when.h"

#include <stdio.h>

json_t *time_json(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[32];
    when_format(ms, t);
    return json_string(t);
}

const char *match_name(store_match m)
{
    return m == STORE_MATCH_PATTERN ? "pattern" : m == STORE_MATCH_FUZZY ? "fuzzy" : "exact";
}

/* The URL of one of a read's images, or null when it has none. */
static json_t *image_url(const store_read *r, int has, const char *name)
{
    if (!has)
        return json_null();
    char url[160];
    snprintf(url, sizeof url, "/api/v1/reads/%s/%s", r->id, name);
    return json_string(url);
}

json_t *read_json(const store_read *r)
{
    return json_pack("{s:s, s:s, s:f, s:s, s:o, s:i, s:s, s:o, s:o, s:o}",
                     "id", r->id, "vrm", r->vrm, "confidence", r->confidence,
                     "camera", r->camera, "time", time_json(r->time_ms),
                     "lane", r->lane, "direction", r->direction,
                     "received", time_json(r->received_ms),
                     "patch_url", image_url(r, r->has_patch, "patch.jpg"),
                     "overview_url", image_url(r, r->has_overview, "overview.jpg"));
}

json_t *alert_json(const store_alert *a)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:s, s:i, s:i, s:s,"
                     " s:o, s:o, s:s?, s:s?}",
                     "id", (json_int_t)a->id, "read_id", a->read_id, "vrm", a->vrm,
                     "camera", a->camera, "time", time_json(a->time_ms),
                     "hotlist", a->hit.hotlist, "entry_id", (json_int_t)a->hit.entry_id,
                     "entry_vrm", a->hit.entry_vrm, "match", match_name(a->hit.match),
                     "substitutions", a->hit.substitutions, "priority", a->hit.priority,
                     "reason", a->hit.reason, "created", time_json(a->created_ms),
                     "acknowledged", time_json(a->ack_ms),
                     "acknowledged_by", a->ack_ms ? a->ack_by : NULL,
                     "outcome", a->ack_ms ? a->outcome : NULL);
}

json_t *camera_json(const store_camera *c)
{
    return json_pack("{s:s, s:s, s:{s:f, s:f}, s:f, s:s, s:s, s:o, s:o}",
                     "id", c->id, "name", c->name, "position", "lat", c->lat,
                     "lon", c->lon, "bearing", c->bearing, "owner", c->owner,
                     "purpose", c->purpose, "installed", time_json(c->installed_ms),
                     "created", time_json(c->created_ms));
}

json_t *hotlist_json(const store_hotlist *h)
{
    return json_pack("{s:s, s:i, s:i, s:s, s:o}", "name", h->name,
                     "priority", h->priority, "fuzzy", h->fuzzy,
                     "description", h->description, "created", time_json(h->created_ms));
}

json_t *entry_json(const store_entry *e)
{
    return json_pack("{s:I, s:s, s:s, s:b, s:s, s:i, s:s, s:o, s:o}",
                     "id", (json_int_t)e->id, "hotlist", e->hotlist, "vrm", e->vrm,
                     "pattern", e->is_pattern, "reason", e->reason,
                     "priority", e->priority, "source", e->source,
                     "expires", time_json(e->expires_ms),
                     "created", time_json(e->created_ms));
}
