/*
 * api_alerts.c: alerts: list (newest first, or after an id), show one,
 * acknowledge with an outcome, and the live stream of server-sent events
 * (GET /api/v1/alerts/stream), which resumes after Last-Event-ID.
 */
#include "api.h"

#include "jsonin.h"
#include "jsonout.h"
#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the alert ID in the path; answers 400 and returns -1 if bad. */
static int alert_id(api_call *c, int64_t *id)
{
    char *end;
    long long v = strtoll(c->arg[0], &end, 10);
    if (*end || v <= 0) {
        http_error(c->r, 400, "an alert ID is a positive integer");
        return -1;
    }
    *id = v;
    return 0;
}

static int add_alert(void *ctx, const store_alert *a)
{
    json_array_append_new(ctx, alert_json(a));
    return 0;
}

void api_alerts_list(api_call *c)
{
    store_alert_query q = { 0 };
    int64_t limit, unacked;
    q.hotlist = http_arg(c->r, "hotlist");
    if (api_query_int(c, "after", 0, 0, INT64_MAX, &q.after_id)
        || api_query_int(c, "before", 0, 0, INT64_MAX, &q.before_id)
        || api_query_int(c, "limit", 100, 1, 1000, &limit)
        || api_query_int(c, "unacked", 0, 0, 1, &unacked))
        return;
    if (q.hotlist && !valid_name(q.hotlist)) {
        http_error(c->r, 400, "'hotlist' is not a valid hotlist name");
        return;
    }
    q.limit = (int)limit;
    q.unacked_only = (int)unacked;
    json_t *list = json_array();
    store_code rc = c->srv->st->ops->list_alerts(c->srv->st, &q, add_alert, list);
    if (rc != STORE_OK) {
        json_decref(list);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o}", "alerts", list));
}

void api_alerts_get(api_call *c)
{
    int64_t id;
    store_alert a;
    if (alert_id(c, &id))
        return;
    store_code rc = c->srv->st->ops->get_alert(c->srv->st, id, &a);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, alert_json(&a));
}

void api_alerts_ack(api_call *c)
{
    int64_t id;
    if (alert_id(c, &id))
        return;
    json_t *body = api_body(c);
    if (!body)
        return;
    char outcome[STORE_TEXT_MAX] = "", err[JSONIN_ERR];
    int bad = jsonin_text(body, "outcome", 1, outcome, sizeof outcome - 1, err);
    json_decref(body);
    if (bad || !outcome[0]) {
        http_error(c->r, 400, "%s", bad ? err : "'outcome' must not be empty");
        return;
    }
    store *st = c->srv->st;
    store_alert a;
    store_code rc = st->ops->ack_alert(st, id, c->who.name, outcome, when_now_ms());
    if (rc == STORE_OK)
        rc = st->ops->get_alert(st, id, &a);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, alert_json(&a));
}

/* One client's event stream. */
typedef struct sse {
    server *srv;
    int64_t cursor;              /* the last alert id sent */
    char hotlist[STORE_NAME_MAX];
    char *buf;                   /* events formatted, not yet sent */
    size_t len, off, cap;
} sse;

/* Appends text to the stream's pending bytes. */
static int sse_put(sse *s, const char *text, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

static int sse_alert(void *ctx, const store_alert *a)
{
    sse *s = ctx;
    s->cursor = a->id;
    json_t *j = alert_json(a);
    char *text = j ? json_dumps(j, JSONOUT_FLAGS) : NULL;
    json_decref(j);
    char head[64];
    int hn = snprintf(head, sizeof head, "id: %lld\nevent: alert\ndata: ", (long long)a->id);
    int bad = !text || sse_put(s, head, (size_t)hn) || sse_put(s, text, strlen(text))
              || sse_put(s, "\n\n", 2);
    free(text);
    return bad;
}

static ssize_t sse_fill(void *ctx, char *out, size_t max)
{
    sse *s = ctx;
    while (s->off == s->len) {
        s->off = s->len = 0;
        /* Every alert up to what the hub has seen is in the store: if none
         * of them passes the filter, the cursor may skip past them all. */
        int64_t seen = hub_latest(s->srv->hub);
        store_alert_query q = { .oldest_first = 1, .after_id = s->cursor, .limit = 100,
                                .hotlist = s->hotlist[0] ? s->hotlist : NULL };
        store_code rc = s->srv->st->ops->list_alerts(s->srv->st, &q, sse_alert, s);
        if (rc != STORE_OK)
            return -1;
        if (s->len)
            break;
        if (seen > s->cursor)
            s->cursor = seen;
        /* Nothing new: wait for the hub; say something every 15 s so
         * proxies and the idle timeout keep the connection. */
        int64_t latest = hub_wait(s->srv->hub, s->cursor, 15000);
        if (latest < 0)
            return -1;
        if (latest <= s->cursor && sse_put(s, ": keepalive\n\n", 13))
            return -1;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void sse_done(void *ctx)
{
    sse *s = ctx;
    free(s->buf);
    free(s);
}

void api_alerts_stream(api_call *c)
{
    const char *last = http_header(c->r, "Last-Event-ID");
    const char *hotlist = http_arg(c->r, "hotlist");
    int64_t after = -1;
    if (api_query_int(c, "after", -1, 0, INT64_MAX, &after))
        return;
    if (hotlist && !valid_name(hotlist)) {
        http_error(c->r, 400, "'hotlist' is not a valid hotlist name");
        return;
    }
    sse *s = calloc(1, sizeof *s);
    if (!s) {
        http_error(c->r, 500, "out of memory");
        return;
    }
    s->srv = c->srv;
    s->cursor = hub_latest(c->srv->hub);
    if (last && *last)
        s->cursor = strtoll(last, NULL, 10);
    if (after >= 0)
        s->cursor = after;
    snprintf(s->hotlist, sizeof s->hotlist, "%s", hotlist ? hotlist : "");
    /* A first comment, so a client knows the stream is open and live. */
    if (sse_put(s, ": anpr alerts\n\n", 15)) {
        sse_done(s);
        http_error(c->r, 500, "out of memory");
        return;
    }
    http_stream(c->r, "text/event-stream", sse_fill, s, sse_done);
}
