/*
 * api_hotlists.c: hotlists and their entries: create or update a list,
 * add, list and delete entries, and import a CSV file of entries in one
 * transaction. New entries are checked against the last days of reads, so
 * a vehicle seen just before it was listed still raises an alert.
 */
#include "api.h"

#include "csv.h"
#include "jsonin.h"
#include "jsonout.h"
#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The hotlist named in the path; answers 404/400 and returns -1 if none. */
static int named_list(api_call *c, store_hotlist *h)
{
    if (!valid_name(c->arg[0])) {
        http_error(c->r, 400, "a hotlist name is 1 to 64 of A-Z a-z 0-9 . _ -");
        return -1;
    }
    store_code rc = c->srv->st->ops->get_hotlist(c->srv->st, c->arg[0], h);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return -1;
    }
    return 0;
}

/* After a change: this node matches with it at once, others within a
 * second (they poll the hotlist generation). */
static void changed(api_call *c)
{
    if (server_reload_hotlists(c->srv, 0))
        fprintf(stderr, "anpr serve: reloading hotlists: %s\n", store_error());
}

void api_hotlists_put(api_call *c)
{
    if (!valid_name(c->arg[0])) {
        http_error(c->r, 400, "a hotlist name is 1 to 64 of A-Z a-z 0-9 . _ -");
        return;
    }
    json_t *body = api_body(c);
    if (!body)
        return;
    store_hotlist h;
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "%s", c->arg[0]);
    int64_t priority = 1, fuzzy = 0;
    char err[JSONIN_ERR];
    int bad = jsonin_int(body, "priority", 0, 0, 1000, &priority, err)
              || jsonin_int(body, "fuzzy", 0, 0, VALID_VRM_MAX, &fuzzy, err)
              || jsonin_text(body, "description", 0, h.description,
                             sizeof h.description - 1, err);
    json_decref(body);
    if (bad) {
        http_error(c->r, 400, "%s", err);
        return;
    }
    h.priority = (int)priority;
    h.fuzzy = (int)fuzzy;
    h.created_ms = when_now_ms();
    store_code rc = c->srv->st->ops->put_hotlist(c->srv->st, &h);
    if (rc == STORE_OK)
        rc = c->srv->st->ops->get_hotlist(c->srv->st, h.name, &h);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    changed(c);
    http_json(c->r, 200, hotlist_json(&h));
}

void api_hotlists_get(api_call *c)
{
    store_hotlist h;
    if (named_list(c, &h) == 0)
        http_json(c->r, 200, hotlist_json(&h));
}

static int add_hotlist(void *ctx, const store_hotlist *h)
{
    json_array_append_new(ctx, hotlist_json(h));
    return 0;
}

void api_hotlists_list(api_call *c)
{
    json_t *list = json_array();
    store_code rc = c->srv->st->ops->list_hotlists(c->srv->st, add_hotlist, list);
    if (rc != STORE_OK) {
        json_decref(list);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o}", "hotlists", list));
}

void api_hotlists_delete(api_call *c)
{
    store_hotlist h;
    if (named_list(c, &h))
        return;
    store_code rc = c->srv->st->ops->delete_hotlist(c->srv->st, h.name);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    changed(c);
    http_json(c->r, 200, json_pack("{s:s}", "deleted", h.name));
}

/*
 * Fills e from one entry's fields (VRM or pattern, reason, priority,
 * source, expiry); the same rules serve JSON and CSV. 0, or -1 with err.
 */
static int entry_from(store_entry *e, const char *vrm, const char *pattern,
                      const char *reason, int64_t priority, const char *source,
                      int64_t expires_ms, int64_t now_ms, char *err)
{
    memset(e, 0, sizeof *e);
    if (!!vrm == !!pattern) {
        snprintf(err, JSONIN_ERR, "give exactly one of 'vrm' and 'pattern'");
        return -1;
    }
    if (vrm && !valid_vrm(vrm)) {
        snprintf(err, JSONIN_ERR, "'vrm' must be 1 to 10 of A-Z and 0-9");
        return -1;
    }
    if (pattern && !valid_pattern(pattern)) {
        snprintf(err, JSONIN_ERR, "'pattern' must be up to 15 of A-Z 0-9 * ? with a * or ?");
        return -1;
    }
    if (!reason || !*reason || !valid_text(reason, STORE_TEXT_MAX - 1)) {
        snprintf(err, JSONIN_ERR, "a 'reason' of printable text is required");
        return -1;
    }
    if (source && !valid_text(source, STORE_TEXT_MAX - 1)) {
        snprintf(err, JSONIN_ERR, "'source' must be printable text");
        return -1;
    }
    if (priority < 0 || priority > 1000) {
        snprintf(err, JSONIN_ERR, "'priority' must be from 0 to 1000");
        return -1;
    }
    if (expires_ms && expires_ms <= now_ms) {
        snprintf(err, JSONIN_ERR, "'expires' is in the past");
        return -1;
    }
    snprintf(e->vrm, sizeof e->vrm, "%s", vrm ? vrm : pattern);
    e->is_pattern = pattern != NULL;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    snprintf(e->source, sizeof e->source, "%s", source ? source : "");
    e->priority = (int)priority;
    e->expires_ms = expires_ms;
    e->created_ms = now_ms;
    return 0;
}

/* Raises alerts for one new entry's sightings in the look-back window. */
typedef struct past {
    store *st;
    const store_hotlist *h;
    const store_entry *e;
    int64_t id;
    int alerts;
} past;

static int past_read(void *ctx, const store_read *r)
{
    past *p = ctx;
    store_alert a;
    memset(&a, 0, sizeof a);
    store_match how = p->e->is_pattern ? STORE_MATCH_PATTERN : STORE_MATCH_EXACT;
    int subst = 0;
    if (!p->e->is_pattern && strcmp(r->vrm, p->e->vrm)) {
        subst = valid_substitutions(r->vrm, p->e->vrm);
        if (subst > p->h->fuzzy)
            return 0;
        how = STORE_MATCH_FUZZY;
    }
    snprintf(a.read_id, sizeof a.read_id, "%s", r->id);
    a.hit.entry_id = p->id;
    snprintf(a.hit.hotlist, sizeof a.hit.hotlist, "%s", p->h->name);
    snprintf(a.hit.entry_vrm, sizeof a.hit.entry_vrm, "%s", p->e->vrm);
    a.hit.match = how;
    a.hit.substitutions = subst;
    a.hit.priority = p->e->priority ? p->e->priority : p->h->priority;
    snprintf(a.hit.reason, sizeof a.hit.reason, "%s", p->e->reason);
    snprintf(a.vrm, sizeof a.vrm, "%s", r->vrm);
    snprintf(a.camera, sizeof a.camera, "%s", r->camera);
    a.time_ms = r->time_ms;
    a.created_ms = when_now_ms();
    int64_t id;
    if (p->st->ops->create_alert(p->st, &a, &id) == STORE_OK)
        p->alerts++;
    return 0;
}

/* Checks entries[0..n) (stored as ids[]) against recent reads; returns
 * how many alerts that raised. */
static int look_back(server *s, const store_hotlist *h, const store_entry *entries,
                     const int64_t *ids, size_t n)
{
    int64_t now = when_now_ms();
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        char key[16];
        past p = { s->st, h, &entries[i], ids[i], 0 };
        store_query q = { .from_ms = now - (int64_t)s->lookback_days * WHEN_DAY_MS,
                          .limit = 1000, .vrm = entries[i].vrm };
        if (entries[i].is_pattern) {
            q.match = STORE_MATCH_PATTERN;
        } else if (h->fuzzy > 0) {
            q.match = STORE_MATCH_FUZZY;
            valid_key(entries[i].vrm, key);
            q.vrm = key;
        }
        if (s->st->ops->search_reads(s->st, &q, past_read, &p) != STORE_OK)
            fprintf(stderr, "anpr serve: look-back for %s: %s\n", entries[i].vrm,
                    store_error());
        total += p.alerts;
    }
    return total;
}

/* Stores entries[0..n) in list h, then reloads and looks back; answers. */
static void store_entries(api_call *c, const store_hotlist *h, store_entry *entries,
                          size_t n)
{
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        http_error(c->r, 500, "out of memory");
        return;
    }
    store_code rc = c->srv->st->ops->add_entries(c->srv->st, h->name, entries, n, ids);
    if (rc != STORE_OK) {
        free(ids);
        api_store_fail(c, rc);
        return;
    }
    changed(c);
    int alerts = look_back(c->srv, h, entries, ids, n);
    if (n == 1) {
        entries[0].id = ids[0];
        snprintf(entries[0].hotlist, sizeof entries[0].hotlist, "%s", h->name);
        json_t *j = entry_json(&entries[0]);
        json_object_set_new(j, "past_alerts", json_integer(alerts));
        http_json(c->r, 201, j);
    } else {
        http_json(c->r, 201, json_pack("{s:I, s:i}", "imported", (json_int_t)n,
                                       "past_alerts", alerts));
    }
    free(ids);
}

void api_entries_post(api_call *c)
{
    store_hotlist h;
    if (named_list(c, &h))
        return;
    json_t *body = api_body(c);
    if (!body)
        return;
    const char *vrm = NULL, *pattern = NULL, *reason = NULL, *source = NULL;
    int64_t priority = 0, expires = 0;
    char err[JSONIN_ERR];
    store_entry e;
    int bad = jsonin_string(body, "vrm", 0, 64, &vrm, err)
              || jsonin_string(body, "pattern", 0, 64, &pattern, err)
              || jsonin_string(body, "reason", 1, STORE_TEXT_MAX - 1, &reason, err)
              || jsonin_int(body, "priority", 0, 0, 1000, &priority, err)
              || jsonin_string(body, "source", 0, STORE_TEXT_MAX - 1, &source, err)
              || jsonin_time(body, "expires", 0, &expires, err)
              || entry_from(&e, vrm, pattern, reason, priority, source, expires,
                            when_now_ms(), err);
    json_decref(body);
    if (bad) {
        http_error(c->r, 400, "%s", err);
        return;
    }
    store_entries(c, &h, &e, 1);
}

static int add_entry(void *ctx, const store_entry *e)
{
    json_array_append_new(ctx, entry_json(e));
    return 0;
}

void api_entries_list(api_call *c)
{
    store_hotlist h;
    int64_t expired;
    if (named_list(c, &h) || api_query_int(c, "expired", 0, 0, 1, &expired))
        return;
    json_t *list = json_array();
    store_code rc = c->srv->st->ops->list_entries(c->srv->st, h.name, (int)expired,
                                                  when_now_ms(), add_entry, list);
    if (rc != STORE_OK) {
        json_decref(list);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:s, s:o}", "hotlist", h.name, "entries", list));
}

void api_entries_delete(api_call *c)
{
    store_hotlist h;
    if (named_list(c, &h))
        return;
    char *end;
    long long id = strtoll(c->arg[1], &end, 10);
    if (*end || id <= 0) {
        http_error(c->r, 400, "an entry ID is a positive integer");
        return;
    }
    store_code rc = c->srv->st->ops->delete_entry(c->srv->st, h.name, id);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    changed(c);
    http_json(c->r, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
}

/* CSV import: collects rows into entries, stopping at the first bad one. */
typedef struct import {
    store_entry *e;
    size_t n, cap;
    int64_t now_ms;
    char err[JSONIN_ERR];
} import;

static int import_row(void *ctx, int line, char **f, int nf)
{
    import *im = ctx;
    /* A first row naming the columns is a header. */
    if (im->n == 0 && line == 1 && nf > 0 && !strcasecmp(f[0], "vrm"))
        return 0;
    if (nf < 2 || nf > 5) {
        snprintf(im->err, sizeof im->err, "line %d: expected vrm,reason[,priority"
                 "[,expires[,source]]], got %d fields", line, nf);
        return -1;
    }
    int64_t priority = 0, expires = 0;
    char *end;
    if (nf > 2 && *f[2] && ((priority = strtoll(f[2], &end, 10)), *end)) {
        snprintf(im->err, sizeof im->err, "line %d: priority '%.40s' is not a number",
                 line, f[2]);
        return -1;
    }
    if (nf > 3 && *f[3] && when_parse(f[3], &expires)) {
        snprintf(im->err, sizeof im->err, "line %d: expires '%.40s' is not a UTC time",
                 line, f[3]);
        return -1;
    }
    if (im->n == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 256;
        store_entry *e = realloc(im->e, cap * sizeof *e);
        if (!e) {
            snprintf(im->err, sizeof im->err, "out of memory at line %d", line);
            return -1;
        }
        im->e = e;
        im->cap = cap;
    }
    int pattern = strpbrk(f[0], "*?") != NULL;
    char err[JSONIN_ERR];
    if (entry_from(&im->e[im->n], pattern ? NULL : f[0], pattern ? f[0] : NULL, f[1],
                   priority, nf > 4 ? f[4] : NULL, expires, im->now_ms, err)) {
        snprintf(im->err, sizeof im->err, "line %d: %.200s", line, err);
        return -1;
    }
    im->n++;
    return 0;
}

void api_entries_import(api_call *c)
{
    store_hotlist h;
    if (named_list(c, &h))
        return;
    import im = { .now_ms = when_now_ms() };
    int line = csv_parse(c->r->body ? c->r->body : "", c->r->body_len, import_row, &im,
                         im.err, sizeof im.err);
    if (line) {
        free(im.e);
        http_json(c->r, 400, json_pack("{s:s, s:i}", "error", im.err, "line", line));
        return;
    }
    if (!im.n) {
        http_error(c->r, 400, "the CSV file holds no entries");
        return;
    }
    store_entries(c, &h, im.e, im.n);
    free(im.e);
}
