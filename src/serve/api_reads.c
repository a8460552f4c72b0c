/*
 * api_reads.c: reads in and out: ingest (validated per read, matched
 * against the hotlists in memory, stored durably with their alerts before
 * the answer), search (exact, pattern or fuzzy; newest first, paged by a
 * cursor; audited), one read, and its images.
 */
#include "api.h"

#include "jsonin.h"
#include "jsonout.h"
#include "valid.h"
#include "when.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HITS 8                /* alerts one read may raise */

/* One read of a batch while it is checked and stored. */
typedef struct incoming {
    store_read r;
    store_hit hits[MAX_HITS];
    unsigned char *patch, *overview;  /* decoded images, owned */
} incoming;

/*
 * Decodes a base64 JPEG field into *out (malloc). 0 when absent or fine,
 * -1 with err set when not base64, too big, or not a JPEG.
 */
static int image_field(json_t *o, const char *key, size_t max,
                       unsigned char **out, size_t *len, char *err)
{
    const char *b64 = NULL;
    /* Base64 is 4 bytes for every 3; a little slack for padding and lines. */
    if (jsonin_string(o, key, 0, max / 3 * 4 + 256, &b64, err))
        return -1;
    if (!b64)
        return 0;
    size_t cap = strlen(b64) / 4 * 3 + 3;
    if (!(*out = malloc(cap))) {
        snprintf(err, JSONIN_ERR, "out of memory");
        return -1;
    }
    if (sodium_base642bin(*out, cap, b64, strlen(b64), " \r\n", len, NULL,
                          sodium_base64_VARIANT_ORIGINAL)) {
        snprintf(err, JSONIN_ERR, "'%s' is not valid base64", key);
        return -1;
    }
    if (*len > max) {
        snprintf(err, JSONIN_ERR, "'%s' is %zu bytes, over the limit of %zu", key, *len, max);
        return -1;
    }
    if (*len < 3 || (*out)[0] != 0xff || (*out)[1] != 0xd8 || (*out)[2] != 0xff) {
        snprintf(err, JSONIN_ERR, "'%s' is not a JPEG image", key);
        return -1;
    }
    return 0;
}

/* Checks and converts one read of the batch. 0, or -1 with err set. */
static int parse_read(server *s, json_t *o, int64_t now_ms, incoming *in, char *err)
{
    store_read *r = &in->r;
    const char *id = NULL, *vrm = NULL, *camera = NULL;
    int64_t lane = 0;
    memset(in, 0, sizeof *in);
    if (!json_is_object(o)) {
        snprintf(err, JSONIN_ERR, "a read must be a JSON object");
        return -1;
    }
    r->confidence = 1;
    if (jsonin_string(o, "id", 1, 64, &id, err)
        || jsonin_string(o, "vrm", 1, 64, &vrm, err)
        || jsonin_string(o, "camera", 1, 64, &camera, err)
        || jsonin_time(o, "time", 1, &r->time_ms, err)
        || jsonin_number(o, "confidence", 0, 0, 1, &r->confidence, err)
        || jsonin_int(o, "lane", 0, 0, 99, &lane, err)
        || jsonin_text(o, "direction", 0, r->direction, sizeof r->direction - 1, err))
        return -1;
    if (!valid_id(id)) {
        snprintf(err, JSONIN_ERR, "'id' must be 1 to 64 of A-Z a-z 0-9 . _ : -");
        return -1;
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    if (!valid_vrm(vrm)) {
        snprintf(err, JSONIN_ERR, "'vrm' must be 1 to 10 of A-Z and 0-9");
        return -1;
    }
    snprintf(r->vrm, sizeof r->vrm, "%s", vrm);
    valid_key(r->vrm, r->vrm_key);
    if (!valid_id(camera)) {
        snprintf(err, JSONIN_ERR, "'camera' is not a valid camera ID");
        return -1;
    }
    int known = server_camera_known(s, camera);
    if (known <= 0) {
        snprintf(err, JSONIN_ERR, known < 0 ? "camera lookup failed: %s"
                 : "unknown camera '%s' (register it with PUT /api/v1/cameras/ID)",
                 known < 0 ? store_error() : camera);
        return -1;
    }
    snprintf(r->camera, sizeof r->camera, "%s", camera);
    if (r->time_ms > now_ms + s->max_future_ms) {
        snprintf(err, JSONIN_ERR, "'time' is more than %lld s in the future",
                 (long long)(s->max_future_ms / 1000));
        return -1;
    }
    r->lane = (int)lane;
    if (image_field(o, "patch_jpeg", s->max_patch, &in->patch, &r->patch_len, err)
        || image_field(o, "overview_jpeg", s->max_overview, &in->overview,
                       &r->overview_len, err))
        return -1;
    r->patch = in->patch;
    r->overview = in->overview;
    r->received_ms = now_ms;
    r->hits = in->hits;
    r->n_hits = server_match(s, r->vrm, r->vrm_key, now_ms, in->hits, MAX_HITS);
    return 0;
}

void api_reads_post(api_call *c)
{
    server *s = c->srv;
    json_t *body = api_body(c);
    if (!body)
        return;
    json_t *list = json_object_get(body, "reads");
    if (!json_is_array(list)) {
        json_decref(body);
        http_error(c->r, 400, "'reads' must be an array of reads");
        return;
    }
    size_t n = json_array_size(list);
    if (n > (size_t)s->max_batch) {
        json_decref(body);
        http_error(c->r, 413, "at most %d reads per request", s->max_batch);
        return;
    }
    incoming *in = calloc(n ? n : 1, sizeof *in);
    store_read *good = calloc(n ? n : 1, sizeof *good);
    store_insert *status = calloc(n ? n : 1, sizeof *status);
    json_t *rejected = json_array();
    if (!in || !good || !status || !rejected) {
        http_error(c->r, 500, "out of memory");
        goto out;
    }
    int64_t now = when_now_ms();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char err[JSONIN_ERR];
        json_t *o = json_array_get(list, i);
        if (parse_read(s, o, now, &in[i], err) == 0) {
            good[k++] = in[i].r;
            continue;
        }
        json_t *id = json_object_get(o, "id");
        json_array_append_new(rejected, json_pack("{s:I, s:O, s:s}", "index", (json_int_t)i,
                                                  "id", json_is_string(id) ? id : json_null(),
                                                  "error", err));
    }
    store_code rc = k ? s->st->ops->insert_reads(s->st, good, k, status) : STORE_OK;
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        goto out;
    }
    size_t accepted = 0;
    for (size_t i = 0; i < k; i++)
        accepted += status[i] == STORE_INSERTED;
    http_json(c->r, 200, json_pack("{s:I, s:I, s:O}", "accepted", (json_int_t)accepted,
                                   "duplicates", (json_int_t)(k - accepted),
                                   "rejected", rejected));
out:
    for (size_t i = 0; in && i < n; i++) {
        free(in[i].patch);
        free(in[i].overview);
    }
    free(in);
    free(good);
    free(status);
    json_decref(rejected);
    json_decref(body);
}

/* Collects a page of search results. */
typedef struct page {
    json_t *reads, *ids;
    int want;                    /* rows still wanted */
    int fuzzy;                   /* filter by substitutions */
    const char *vrm;
    int max_subst;
    int64_t last_ms;             /* the cursor of the last row looked at */
    char last_id[STORE_ID_MAX];
    int seen;                    /* rows the store gave */
} page;

static int page_row(void *ctx, const store_read *r)
{
    page *p = ctx;
    p->seen++;
    p->last_ms = r->time_ms;
    snprintf(p->last_id, sizeof p->last_id, "%s", r->id);
    if (p->fuzzy && valid_substitutions(p->vrm, r->vrm) > p->max_subst)
        return 0;
    json_array_append_new(p->reads, read_json(r));
    json_array_append_new(p->ids, json_string(r->id));
    return --p->want == 0;
}

/* Parses a "before" cursor "MS:ID". */
static int parse_cursor(const char *v, int64_t *ms, const char **id)
{
    char *end;
    long long t = strtoll(v, &end, 10);
    if (end == v || *end != ':' || t <= 0 || !valid_id(end + 1))
        return -1;
    *ms = t;
    *id = end + 1;
    return 0;
}

void api_reads_search(api_call *c)
{
    server *s = c->srv;
    store_query q = { .match = STORE_MATCH_EXACT };
    int64_t limit, fuzzy, max_subst;
    char key[16];
    const char *vrm = http_arg(c->r, "vrm"), *before = http_arg(c->r, "before");
    q.camera = http_arg(c->r, "camera");
    if (api_query_time(c, "from", &q.from_ms) || api_query_time(c, "to", &q.to_ms)
        || api_query_int(c, "limit", 100, 1, 1000, &limit)
        || api_query_int(c, "fuzzy", 0, 0, 1, &fuzzy)
        || api_query_int(c, "max_subst", s->max_fuzzy, 0, VALID_VRM_MAX, &max_subst))
        return;
    if (vrm && !valid_vrm(vrm) && !valid_pattern(vrm)) {
        http_error(c->r, 400, "'vrm' must be a VRM (A-Z 0-9, up to 10) or a pattern"
                   " with * and ?");
        return;
    }
    if (q.camera && !valid_id(q.camera)) {
        http_error(c->r, 400, "'camera' is not a valid camera ID");
        return;
    }
    if (before && parse_cursor(before, &q.before_ms, &q.before_id)) {
        http_error(c->r, 400, "'before' must be a cursor from a previous page's 'next'");
        return;
    }
    if (vrm && valid_pattern(vrm)) {
        if (fuzzy) {
            http_error(c->r, 400, "fuzzy search takes a VRM, not a pattern");
            return;
        }
        q.match = STORE_MATCH_PATTERN;
    } else if (vrm && fuzzy) {
        q.match = STORE_MATCH_FUZZY;
        valid_key(vrm, key);
    } else if (!vrm && fuzzy) {
        http_error(c->r, 400, "fuzzy search needs a 'vrm'");
        return;
    }
    q.vrm = q.match == STORE_MATCH_FUZZY ? key : vrm;
    if (api_access_check(c, &q.from_ms))
        return;

    page p = { json_array(), json_array(), (int)limit, q.match == STORE_MATCH_FUZZY,
               vrm, (int)max_subst, 0, "", 0 };
    store_code rc = STORE_OK;
    /* Fuzzy rows beyond the allowed substitutions are dropped, so pages
     * may need several trips; the cursor carries on from the last row. */
    do {
        q.limit = p.fuzzy ? 500 : (int)limit;
        p.seen = 0;
        rc = s->st->ops->search_reads(s->st, &q, page_row, &p);
        q.before_ms = p.last_ms;
        q.before_id = p.last_id;
    } while (rc == STORE_OK && p.fuzzy && p.want > 0 && p.seen == q.limit);
    if (rc != STORE_OK) {
        json_decref(p.reads);
        json_decref(p.ids);
        api_store_fail(c, rc);
        return;
    }
    char next[96] = "";
    if (p.want == 0)
        snprintf(next, sizeof next, "%lld:%s", (long long)p.last_ms, p.last_id);
    size_t count = json_array_size(p.reads);
    json_t *asked = json_pack("{s:s?, s:s, s:I, s:I, s:s?, s:I, s:s?}", "vrm", vrm,
                              "match", match_name(q.match), "from", (json_int_t)q.from_ms,
                              "to", (json_int_t)q.to_ms, "camera", q.camera,
                              "limit", (json_int_t)limit, "before", before);
    if (api_audit(c, "search", asked, (int64_t)count, p.ids)) {
        json_decref(p.reads);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o, s:I, s:s?}", "reads", p.reads,
                                   "count", (json_int_t)count, "next", next[0] ? next : NULL));
}

/*
 * Fetches the read named in the path, applying the access wall to its time
 * and auditing the look. Returns 0 with *r filled, or -1 having answered.
 */
static int one_read(api_call *c, const char *action, store_read *r)
{
    if (!valid_id(c->arg[0])) {
        http_error(c->r, 400, "not a valid read ID");
        return -1;
    }
    store_code rc = c->srv->st->ops->get_read(c->srv->st, c->arg[0], r);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return -1;
    }
    int64_t from = r->time_ms ? r->time_ms : 1;
    if (api_access_check(c, &from))
        return -1;
    return api_audit(c, action, json_pack("{s:s}", "id", r->id), 1,
                     json_pack("[s]", r->id));
}

void api_read_get(api_call *c)
{
    store_read r;
    if (one_read(c, "read", &r) == 0)
        http_json(c->r, 200, read_json(&r));
}

static void image(api_call *c, store_image which)
{
    store_read r;
    if (one_read(c, which == STORE_IMAGE_PATCH ? "patch" : "overview", &r))
        return;
    void *data;
    size_t len;
    store_code rc = c->srv->st->ops->get_image(c->srv->st, r.id, which, &data, &len);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    http_bytes(c->r, 200, "image/jpeg", data, len);
}

void api_read_patch(api_call *c)
{
    image(c, STORE_IMAGE_PATCH);
}

void api_read_overview(api_call *c)
{
    image(c, STORE_IMAGE_OVERVIEW);
}
