/*
 * api.c: the API's router (method and path to handler, after checking the
 * bearer token) and the helpers every handler shares; see api.h.
 */
#include "api.h"

#include "auth.h"
#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct route {
    const char *method;
    const char *path;            /* "{}" matches one non-empty segment */
    void (*fn)(api_call *c);
    int admin;                   /* only for tokens with role "admin" */
} route;

static const route routes[] = {
    { "POST", "/api/v1/reads", api_reads_post, 0 },
    { "GET", "/api/v1/reads", api_reads_search, 0 },
    { "GET", "/api/v1/reads/{}", api_read_get, 0 },
    { "GET", "/api/v1/reads/{}/patch.jpg", api_read_patch, 0 },
    { "GET", "/api/v1/reads/{}/overview.jpg", api_read_overview, 0 },
    { "GET", "/api/v1/cameras", api_cameras_list, 0 },
    { "GET", "/api/v1/cameras/{}", api_cameras_get, 0 },
    { "PUT", "/api/v1/cameras/{}", api_cameras_put, 0 },
    { "GET", "/api/v1/hotlists", api_hotlists_list, 0 },
    { "GET", "/api/v1/hotlists/{}", api_hotlists_get, 0 },
    { "PUT", "/api/v1/hotlists/{}", api_hotlists_put, 0 },
    { "DELETE", "/api/v1/hotlists/{}", api_hotlists_delete, 0 },
    { "GET", "/api/v1/hotlists/{}/entries", api_entries_list, 0 },
    { "POST", "/api/v1/hotlists/{}/entries", api_entries_post, 0 },
    { "DELETE", "/api/v1/hotlists/{}/entries/{}", api_entries_delete, 0 },
    { "POST", "/api/v1/hotlists/{}/import", api_entries_import, 0 },
    { "GET", "/api/v1/alerts", api_alerts_list, 0 },
    { "GET", "/api/v1/alerts/stream", api_alerts_stream, 0 },
    { "GET", "/api/v1/alerts/{}", api_alerts_get, 0 },
    { "POST", "/api/v1/alerts/{}/ack", api_alerts_ack, 0 },
    { "GET", "/api/v1/investigate/seen", api_seen, 0 },
    { "GET", "/api/v1/investigate/convoy", api_convoy, 0 },
    { "GET", "/api/v1/investigate/journeys", api_journeys, 0 },
    { "POST", "/api/v1/tokens", api_tokens_post, 1 },
    { "GET", "/api/v1/audit", api_audit_list, 1 },
    { "GET", "/api/v1/audit/verify", api_audit_verify, 1 },
};

/*
 * Matches path against a route pattern, copying the {} segments into buf
 * (NUL-separated) and pointing args at them. Returns 1 on a match.
 */
static int match(const char *pat, const char *path, char *buf, size_t buflen,
                 const char *args[2])
{
    int n = 0;
    size_t used = 0;
    while (*pat && *path) {
        if (!strncmp(pat, "{}", 2)) {
            size_t len = strcspn(path, "/");
            if (!len || n == 2 || used + len + 1 > buflen)
                return 0;
            memcpy(buf + used, path, len);
            buf[used + len] = 0;
            args[n++] = buf + used;
            used += len + 1;
            path += len;
            pat += 2;
        } else if (*pat++ != *path++) {
            return 0;
        }
    }
    return !*pat && !*path;
}

void api_handle(void *ctx, http_req *r)
{
    api_call c = { .srv = ctx, .r = r };
    char segs[160];
    const route *found = NULL;
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *args[2] = { NULL, NULL };
        if (!match(routes[i].path, r->path, segs, sizeof segs, args))
            continue;
        path_known = 1;
        if (!strcmp(routes[i].method, r->method)) {
            found = &routes[i];
            c.arg[0] = args[0];
            c.arg[1] = args[1];
            break;
        }
    }
    if (!path_known) {
        http_error(r, 404, "no such API path: %s", r->path);
        return;
    }
    store *st = c.srv->st;
    store_code rc = auth_check(st, http_header(r, "Authorization"), &c.who);
    if (rc == STORE_NOTFOUND) {
        http_error(r, 401, "a valid 'Authorization: Bearer TOKEN' header is required");
        return;
    }
    if (rc != STORE_OK) {
        api_store_fail(&c, rc);
        return;
    }
    if (!found) {
        http_error(r, 405, "%s is not allowed on %s", r->method, r->path);
        return;
    }
    if (found->admin && strcmp(c.who.role, "admin")) {
        http_error(r, 403, "this needs an admin token");
        return;
    }
    found->fn(&c);
}

void api_store_fail(api_call *c, store_code rc)
{
    static const unsigned status[] = {
        [STORE_OK] = 500, [STORE_NOTFOUND] = 404, [STORE_CONFLICT] = 409,
        [STORE_INVALID] = 400, [STORE_ERR] = 503,
    };
    http_error(c->r, status[rc], "%s", store_error());
}

json_t *api_body(api_call *c)
{
    if (!c->r->body) {
        http_error(c->r, 400, "a JSON object body is required");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(c->r->body, c->r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        http_error(c->r, 400, "malformed JSON at line %d column %d: %s", e.line, e.column,
                   e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_error(c->r, 400, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

int api_query_int(api_call *c, const char *key, int64_t def, int64_t min,
                  int64_t max, int64_t *out)
{
    const char *v = http_arg(c->r, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        http_error(c->r, 400, "'%s' must be an integer from %lld to %lld", key,
                   (long long)min, (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

int api_query_time(api_call *c, const char *key, int64_t *out)
{
    const char *v = http_arg(c->r, key);
    if (v && when_parse(v, out)) {
        http_error(c->r, 400, "'%s' must be a UTC time like 2026-11-24T10:15:30Z", key);
        return -1;
    }
    return 0;
}

int api_access_check(api_call *c, int64_t *from_ms)
{
    const char *fields[] = { "purpose", "justification", "authorisation" };
    for (int i = 0; i < 3; i++) {
        const char *v = http_arg(c->r, fields[i]);
        if (v && !valid_text(v, STORE_TEXT_MAX - 1)) {
            http_error(c->r, 400, "'%s' must be printable text of at most %d bytes",
                       fields[i], STORE_TEXT_MAX - 1);
            return -1;
        }
    }
    int64_t wall = when_now_ms() - (int64_t)c->srv->wall_days * WHEN_DAY_MS;
    const char *auth = http_arg(c->r, "authorisation");
    if (auth && *auth)
        return 0;
    if (*from_ms == 0) {
        *from_ms = wall;
        return 0;
    }
    if (*from_ms < wall) {
        http_error(c->r, 403, "reads older than %d days need an 'authorisation'"
                   " reference", c->srv->wall_days);
        return -1;
    }
    return 0;
}

int api_audit(api_call *c, const char *action, json_t *query, int64_t count,
              json_t *result)
{
    store_audit a;
    memset(&a, 0, sizeof a);
    a.time_ms = when_now_ms();
    snprintf(a.who, sizeof a.who, "%s", c->who.name);
    snprintf(a.action, sizeof a.action, "%s", action);
    const char *v;
    if ((v = http_arg(c->r, "purpose")))
        snprintf(a.purpose, sizeof a.purpose, "%s", v);
    if ((v = http_arg(c->r, "justification")))
        snprintf(a.justification, sizeof a.justification, "%s", v);
    if ((v = http_arg(c->r, "authorisation")))
        snprintf(a.authorisation, sizeof a.authorisation, "%s", v);
    char *q = query ? json_dumps(query, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *res = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(query);
    json_decref(result);
    a.query = q;
    a.result_count = count;
    a.result = res;
    store_code rc = q && res ? c->srv->st->ops->audit_append(c->srv->st, &a) : STORE_ERR;
    free(q);
    free(res);
    if (rc != STORE_OK) {
        http_error(c->r, 500, "the audit log could not be written, so nothing is shown: %s",
                   store_error());
        return -1;
    }
    return 0;
}
