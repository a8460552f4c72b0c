/*
 * store_pg_alerts.c: alerts on PostgreSQL, their webhook deliveries (the
 * outbox), and how every node learns of new ones at once.
 *
 * Order: streams ask for "alerts with id > the last I saw", which is only
 * safe if ids become visible in id order. Alert ids come from an identity
 * column, and two transactions could commit their ids out of order, so
 * every transaction that adds alerts takes one advisory lock just before it
 * does; the lock is held to commit, so ids are drawn and committed in
 * turn. Batches without hits never take it.
 *
 * Wake-up: the adding transaction also NOTIFYs channel "anpr_alerts" with
 * the highest new id; PostgreSQL delivers it at commit to every listening
 * connection, on every node. Each handle runs one listener thread, started
 * by the first wait_alerts(), that counts notifications and wakes waiters,
 * who then read the alerts table themselves. The table stays the truth:
 * a lost notification (a reconnect) also wakes waiters, and while the
 * listener is down waiters poll every 200 ms.
 */
#include "store_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PGS_ALERT_COLS "id, read_id, entry_id, hotlist, vrm, entry_vrm, match," \
    " substitutions, priority, reason, camera, time_ms, created_ms, ack_ms," \
    " ack_by, outcome"

static void pgs_alert_row(const PGresult *r, int i, store_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = pgs_get_i64(r, i, 0);
    pgs_get_text(r, i, 1, a->read_id, sizeof a->read_id);
    a->hit.entry_id = pgs_get_i64(r, i, 2);
    pgs_get_text(r, i, 3, a->hit.hotlist, sizeof a->hit.hotlist);
    pgs_get_text(r, i, 4, a->vrm, sizeof a->vrm);
    pgs_get_text(r, i, 5, a->hit.entry_vrm, sizeof a->hit.entry_vrm);
    a->hit.match = (store_match)pgs_get_i64(r, i, 6);
    a->hit.substitutions = (int)pgs_get_i64(r, i, 7);
    a->hit.priority = (int)pgs_get_i64(r, i, 8);
    pgs_get_text(r, i, 9, a->hit.reason, sizeof a->hit.reason);
    pgs_get_text(r, i, 10, a->camera, sizeof a->camera);
    a->time_ms = pgs_get_i64(r, i, 11);
    a->created_ms = pgs_get_i64(r, i, 12);
    a->ack_ms = pgs_get_i64(r, i, 13);
    pgs_get_text(r, i, 14, a->ack_by, sizeof a->ack_by);
    pgs_get_text(r, i, 15, a->outcome, sizeof a->outcome);
}

/* Alerts to add, one array per column, as the insert statement takes
 * them, and last the webhook URLs each new alert gets a delivery for. */
#define PGS_ALERT_ARRAYS 13
typedef struct pgs_alert_rows {
    pgs_array col[PGS_ALERT_ARRAYS];
} pgs_alert_rows;

static void pgs_alert_rows_begin(pgs_alert_rows *b, const store *st)
{
    static const uint32_t oids[PGS_ALERT_ARRAYS] = {
        PGS_OID_TEXT, PGS_OID_INT8, PGS_OID_TEXT, PGS_OID_TEXT, PGS_OID_TEXT,
        PGS_OID_INT4, PGS_OID_INT4, PGS_OID_INT4, PGS_OID_TEXT, PGS_OID_TEXT,
        PGS_OID_INT8, PGS_OID_INT8, PGS_OID_TEXT
    };
    memset(b, 0, sizeof *b);
    for (int k = 0; k < PGS_ALERT_ARRAYS; k++)
        pgs_array_begin(&b->col[k], oids[k]);
    for (int i = 0; i < st->n_webhooks; i++)
        pgs_array_text(&b->col[12], st->webhooks[i]);
}

static void pgs_alert_rows_add(pgs_alert_rows *b, const char *read_id,
                               const store_hit *h, const char *vrm,
                               const char *camera, int64_t time_ms,
                               int64_t created_ms)
{
    pgs_array_text(&b->col[0], read_id);
    pgs_array_int8(&b->col[1], h->entry_id);
    pgs_array_text(&b->col[2], h->hotlist);
    pgs_array_text(&b->col[3], vrm);
    pgs_array_text(&b->col[4], h->entry_vrm);
    pgs_array_int4(&b->col[5], (int32_t)h->match);
    pgs_array_int4(&b->col[6], h->substitutions);
    pgs_array_int4(&b->col[7], h->priority);
    pgs_array_text(&b->col[8], h->reason);
    pgs_array_text(&b->col[9], camera);
    pgs_array_int8(&b->col[10], time_ms);
    pgs_array_int8(&b->col[11], created_ms);
}

static void pgs_alert_rows_free(pgs_alert_rows *b)
{
    for (int k = 0; k < PGS_ALERT_ARRAYS; k++)
        pgs_array_free(&b->col[k]);
}

static const pgs_stmt st_alert_lock = {
    "alert_lock", "SELECT " PGS_LOCK_ALERTS
};
/* Returns the highest new id, or no row when every alert existed. Each new
 * alert gets a delivery per URL in $13, due when it was made. */
static const pgs_stmt st_alert_insert = {
    "alert_insert",
    "WITH ins AS (INSERT INTO alerts (read_id, entry_id, hotlist, vrm,"
    " entry_vrm, match, substitutions, priority, reason, camera, time_ms,"
    " created_ms) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[],"
    " $4::text[], $5::text[], $6::integer[], $7::integer[], $8::integer[],"
    " $9::text[], $10::text[], $11::bigint[], $12::bigint[])"
    " ON CONFLICT (read_id, entry_id) DO NOTHING RETURNING id, created_ms),"
    " d AS (INSERT INTO deliveries (alert_id, url, due_ms)"
    " SELECT ins.id, u, ins.created_ms FROM ins, unnest($13::text[]) u)"
    " SELECT m, pg_notify('" PGS_CHANNEL "', m::text)"
    " FROM (SELECT max(id) AS m FROM ins) x WHERE m IS NOT NULL"
};

/* Inserts the rows inside the open transaction; *last is the highest new
 * id, 0 when all existed. */
static store_code pgs_alert_rows_insert(pgs_conn *c, pgs_alert_rows *b,
                                        int64_t *last)
{
    const char *vals[PGS_ALERT_ARRAYS];
    int lens[PGS_ALERT_ARRAYS], fmts[PGS_ALERT_ARRAYS];
    *last = 0;
    for (int k = 0; k < PGS_ALERT_ARRAYS; k++) {
        if (pgs_array_end(&b->col[k]))
            return STORE_ERR;
        vals[k] = (const char *)b->col[k].p;
        lens[k] = (int)b->col[k].n;
        fmts[k] = 1;
    }
    PGresult *r = pgs_run(c, &st_alert_lock, 0, NULL, NULL, NULL, 0,
                          "alert lock", NULL);
    if (!r)
        return STORE_ERR;
    PQclear(r);
    r = pgs_run(c, &st_alert_insert, PGS_ALERT_ARRAYS, vals, lens, fmts, 0,
                "storing alerts", NULL);
    if (!r)
        return STORE_ERR;
    if (PQntuples(r))
        *last = pgs_get_i64(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}

static int64_t pgs_wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

store_code pgs_insert_alerts(const store *st, pgs_conn *c,
                             const store_read *reads,
                             const store_insert *status, size_t n,
                             int64_t *last)
{
    pgs_alert_rows b;
    int64_t now = pgs_wall_ms();
    int any = 0;
    *last = 0;
    pgs_alert_rows_begin(&b, st);
    for (size_t i = 0; i < n; i++) {
        const store_read *r = &reads[i];
        for (int h = 0; status[i] == STORE_INSERTED && h < r->n_hits; h++) {
            pgs_alert_rows_add(&b, r->id, &r->hits[h], r->vrm, r->camera,
                               r->time_ms, now);
            any = 1;
        }
    }
    store_code rc = any ? pgs_alert_rows_insert(c, &b, last) : STORE_OK;
    pgs_alert_rows_free(&b);
    return rc;
}

static const pgs_stmt st_alert_find = {
    "alert_find",
    "SELECT id FROM alerts WHERE read_id = $1 AND entry_id = $2::bigint"
};

store_code pgs_create_alert(store *base, const store_alert *a, int64_t *id)
{
    pgs_store *s = (pgs_store *)base;
    pgs_alert_rows b;
    pgs_alert_rows_begin(&b, base);
    pgs_alert_rows_add(&b, a->read_id, &a->hit, a->vrm, a->camera, a->time_ms,
                       a->created_ms ? a->created_ms : pgs_wall_ms());
    pgs_conn *c = pgs_get(s);
    store_code rc = c ? pgs_cmd(c, "BEGIN", NULL) : STORE_ERR;
    if (rc == STORE_OK)
        rc = pgs_alert_rows_insert(c, &b, id);
    if (rc == STORE_OK && !*id) {
        pgs_num n;
        const char *vals[2] = {a->read_id, pgs_i64(&n, a->hit.entry_id)};
        PGresult *r = pgs_run(c, &st_alert_find, 2, vals, NULL, NULL, 0,
                              "finding an alert", NULL);
        if (r && PQntuples(r)) {
            *id = pgs_get_i64(r, 0, 0);
            store_set_error("an alert for read '%s' and entry %lld exists",
                            a->read_id, (long long)a->hit.entry_id);
            rc = STORE_CONFLICT;
        } else if (r) {
            store_set_error("postgres: an alert vanished while it was stored");
            rc = STORE_ERR;
        } else {
            rc = STORE_ERR;
        }
        PQclear(r);
    }
    if (c) {
        /* A conflict changed nothing: commit what there is (nothing). */
        store_code end = pgs_end(c, rc == STORE_CONFLICT ? STORE_OK : rc);
        if (rc == STORE_OK)
            rc = end;
        pgs_put(s, c);
    }
    if (rc == STORE_OK)
        store_alerts_committed(base, *id);
    pgs_alert_rows_free(&b);
    return rc;
}

static const pgs_stmt st_get_alert = {
    "get_alert", "SELECT " PGS_ALERT_COLS " FROM alerts WHERE id = $1::bigint"
};

store_code pgs_get_alert(store *base, int64_t id, store_alert *out)
{
    pgs_num n;
    const char *vals[1] = {pgs_i64(&n, id)};
    PGresult *r = pgs_query((pgs_store *)base, &st_get_alert, 1, vals,
                            "fetching an alert");
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (PQntuples(r)) {
        pgs_alert_row(r, 0, out);
    } else {
        store_set_error("no alert %lld", (long long)id);
        rc = STORE_NOTFOUND;
    }
    PQclear(r);
    return rc;
}

static const pgs_stmt st_alerts_after = {
    "alerts_after",
    "SELECT " PGS_ALERT_COLS " FROM alerts WHERE id > $1::bigint"
    " AND ($2::integer = 0 OR ack_ms = 0) AND ($3::text IS NULL OR hotlist = $3)"
    " ORDER BY id LIMIT $4::integer"
};
static const pgs_stmt st_alerts_before = {
    "alerts_before",
    "SELECT " PGS_ALERT_COLS " FROM alerts WHERE ($1::bigint <= 0 OR id < $1)"
    " AND ($2::integer = 0 OR ack_ms = 0) AND ($3::text IS NULL OR hotlist = $3)"
    " ORDER BY id DESC LIMIT $4::integer"
};

/* Runs a listing, oldest first after q->after_id when ascending, else
 * newest first; *delivered counts the rows handed to cb. */
static store_code pgs_alerts_query(pgs_store *s, const store_alert_query *q,
                                   int ascending, store_alert_cb cb, void *ctx,
                                   int *delivered)
{
    pgs_num n[3];
    const char *vals[4] = {
        pgs_i64(&n[0], ascending ? q->after_id : q->before_id),
        pgs_i64(&n[1], q->unacked_only), q->hotlist,
        pgs_i64(&n[2], q->limit > 0 ? q->limit : 1)
    };
    *delivered = 0;
    PGresult *r = pgs_query(s, ascending ? &st_alerts_after : &st_alerts_before,
                            4, vals, "listing alerts");
    if (!r)
        return STORE_ERR;
    store_alert a;
    for (int i = 0; i < PQntuples(r); i++) {
        pgs_alert_row(r, i, &a);
        ++*delivered;
        if (cb(ctx, &a))
            break;
    }
    PQclear(r);
    return STORE_OK;
}

store_code pgs_list_alerts(store *base, const store_alert_query *q,
                           store_alert_cb cb, void *ctx)
{
    int delivered;
    return pgs_alerts_query((pgs_store *)base, q,
                            q->after_id > 0 || q->oldest_first, cb, ctx,
                            &delivered);
}

/* One statement: whether the update took, and whether the alert exists. */
static const pgs_stmt st_ack = {
    "ack_alert",
    "WITH u AS (UPDATE alerts SET ack_ms = $2::bigint, ack_by = $3, outcome = $4"
    " WHERE id = $1::bigint AND ack_ms = 0 RETURNING id)"
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM alerts"
    " WHERE id = $1::bigint)"
};

store_code pgs_ack_alert(store *base, int64_t id, const char *by,
                         const char *outcome, int64_t now_ms)
{
    pgs_num n[2];
    const char *vals[4] = {pgs_i64(&n[0], id), pgs_i64(&n[1], now_ms ? now_ms : 1),
                           by, outcome};
    PGresult *r = pgs_query((pgs_store *)base, &st_ack, 4, vals,
                            "acknowledging an alert");
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (!pgs_get_i64(r, 0, 0)) {
        rc = pgs_get_i64(r, 0, 1) ? STORE_CONFLICT : STORE_NOTFOUND;
        store_set_error(rc == STORE_CONFLICT ? "alert %lld was acknowledged already"
                                             : "no alert %lld", (long long)id);
    }
    PQclear(r);
    return rc;
}

/* --- webhook deliveries --- */

/* The alert's columns first, as pgs_alert_row() reads them. SKIP LOCKED:
 * a row another node is claiming right now is passed over, not waited
 * for; once that claim commits the row is no longer due. */
static const pgs_stmt st_claim_delivery = {
    "claim_delivery",
    "WITH d AS (UPDATE deliveries SET attempts = attempts + 1,"
    " due_ms = $1::bigint + $2::bigint WHERE id = (SELECT id FROM deliveries"
    " WHERE state = 0 AND due_ms <= $1::bigint ORDER BY due_ms LIMIT 1"
    " FOR UPDATE SKIP LOCKED) RETURNING id AS d_id, alert_id, url, attempts)"
    " SELECT " PGS_ALERT_COLS ", d_id, url, attempts"
    " FROM alerts JOIN d ON alerts.id = d.alert_id"
};

store_code pgs_claim_delivery(store *base, int64_t now_ms, int64_t lease_ms,
                              store_delivery *out)
{
    pgs_num n[2];
    const char *vals[2] = {pgs_i64(&n[0], now_ms), pgs_i64(&n[1], lease_ms)};
    PGresult *r = pgs_query((pgs_store *)base, &st_claim_delivery, 2, vals,
                            "claiming a delivery");
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (PQntuples(r)) {
        pgs_alert_row(r, 0, &out->alert);
        out->id = pgs_get_i64(r, 0, 16);
        pgs_get_text(r, 0, 17, out->url, sizeof out->url);
        out->attempt = (int)pgs_get_i64(r, 0, 18);
    } else {
        store_set_error("no webhook delivery is due");
        rc = STORE_NOTFOUND;
    }
    PQclear(r);
    return rc;
}

/* attempts still ours: nobody claimed it again after our lease. */
static const pgs_stmt st_finish_delivery = {
    "finish_delivery",
    "UPDATE deliveries SET state = $3::integer, due_ms = $4::bigint,"
    " done_ms = $5::bigint, error = $6 WHERE id = $1::bigint"
    " AND attempts = $2::integer AND state = 0"
};

store_code pgs_finish_delivery(store *base, const store_delivery *d,
                               int64_t now_ms, int64_t retry_ms,
                               const char *error)
{
    int state = !error ? STORE_DELIVERY_DONE
                : retry_ms ? STORE_DELIVERY_PENDING : STORE_DELIVERY_FAILED;
    pgs_num n[5];
    const char *vals[6] = {
        pgs_i64(&n[0], d->id), pgs_i64(&n[1], d->attempt),
        pgs_i64(&n[2], state), pgs_i64(&n[3], retry_ms),
        pgs_i64(&n[4], state == STORE_DELIVERY_PENDING ? 0 : now_ms),
        error ? error : ""
    };
    PGresult *r = pgs_query((pgs_store *)base, &st_finish_delivery, 6, vals,
                            "finishing a delivery");
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (!strcmp(PQcmdTuples(r), "0")) {
        store_set_error("delivery %lld was claimed again", (long long)d->id);
        rc = STORE_CONFLICT;
    }
    PQclear(r);
    return rc;
}

/* --- the listener --- */

/* Waits up to ms for the wake pipe; returns nonzero when woken. */
static int pgs_sleep(pgs_store *s, int ms)
{
    struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static void pgs_signal(pgs_store *s, int ok)
{
    pthread_mutex_lock(&s->alock);
    s->listener_ok = ok;
    s->notified++;
    pthread_cond_broadcast(&s->acond);
    pthread_mutex_unlock(&s->alock);
}

static void *pgs_listen_main(void *arg)
{
    pgs_store *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->alock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->alock);
        if (stop)
            break;
        PGconn *pg = pgs_connect(s->url);
        PGresult *r = pg ? PQexec(pg, "LISTEN " PGS_CHANNEL) : NULL;
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(pg);
            if (pgs_sleep(s, 1000))
                break;
            continue;
        }
        /* Anything committed while we were not listening is in the table:
         * the wake-up sends waiters to look. */
        pgs_signal(s, 1);
        for (;;) {
            struct pollfd p[2] = {
                {.fd = PQsocket(pg), .events = POLLIN},
                {.fd = s->wake[0], .events = POLLIN},
            };
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[1].revents)
                break;
            if (!PQconsumeInput(pg))
                break;
            int got = 0;
            PGnotify *note;
            while ((note = PQnotifies(pg))) {
                got = 1;
                PQfreemem(note);
            }
            if (got)
                pgs_signal(s, 1);
        }
        PQfinish(pg);
        pgs_signal(s, 0);
    }
    return NULL;
}

static void pgs_listener_start(pgs_store *s)
{
    pthread_mutex_lock(&s->alock);
    if (!s->listener_running && !s->stop &&
        !pthread_create(&s->listener, NULL, pgs_listen_main, s))
        s->listener_running = 1;
    pthread_mutex_unlock(&s->alock);
}

void pgs_listener_stop(pgs_store *s)
{
    pthread_mutex_lock(&s->alock);
    s->stop = 1;
    int running = s->listener_running;
    pthread_mutex_unlock(&s->alock);
    if (running) {
        if (write(s->wake[1], "x", 1) < 0) {
            /* The pipe cannot be full with one byte in it; nothing to do. */
        }
        pthread_join(s->listener, NULL);
    }
}

static void pgs_deadline(struct timespec *t, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000;
    if (t->tv_nsec >= 1000000000) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000;
    }
}

static int pgs_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

store_code pgs_wait_alerts(store *base, int64_t after_id, int timeout_ms,
                           store_alert_cb cb, void *ctx)
{
    pgs_store *s = (pgs_store *)base;
    store_alert_query q = {.after_id = after_id > 0 ? after_id : 0,
                           .limit = 1000};
    struct timespec end, now, until;
    pgs_listener_start(s);
    pgs_deadline(&end, timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        pthread_mutex_lock(&s->alock);
        uint64_t seen = s->notified;
        pthread_mutex_unlock(&s->alock);
        int delivered = 0;
        store_code rc = pgs_alerts_query(s, &q, 1, cb, ctx, &delivered);
        if (rc != STORE_OK || delivered)
            return rc;
        pthread_mutex_lock(&s->alock);
        clock_gettime(CLOCK_MONOTONIC, &now);
        while (s->notified == seen && pgs_before(&now, &end)) {
            until = end;
            if (!s->listener_ok) {
                pgs_deadline(&until, 200);
                if (pgs_before(&end, &until))
                    until = end;
            }
            pthread_cond_timedwait(&s->acond, &s->alock, &until);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!s->listener_ok)
                break;
        }
        int timed_out = s->notified == seen && !pgs_before(&now, &end);
        pthread_mutex_unlock(&s->alock);
        if (timed_out)
            return STORE_OK;
    }
}
