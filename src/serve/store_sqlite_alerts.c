/*
 * store_sqlite_alerts.c: the SQLite engine's alerts (create, list,
 * acknowledge, wait for new ones), their webhook deliveries (the outbox)
 * and the hash-chained audit log.
 */
#include "store_sqlite.h"

#include <string.h>
#include <time.h>

#define ALERT_COLS "id, read_id, entry_id, hotlist, vrm, entry_vrm, match," \
    " substitutions, priority, reason, camera, time_ms, created_ms, ack_ms," \
    " ack_by, outcome"

static void fill_alert(sqlite3_stmt *st, store_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
    sq_col_text(st, 1, a->read_id, sizeof a->read_id);
    a->hit.entry_id = sqlite3_column_int64(st, 2);
    sq_col_text(st, 3, a->hit.hotlist, sizeof a->hit.hotlist);
    sq_col_text(st, 4, a->vrm, sizeof a->vrm);
    sq_col_text(st, 5, a->hit.entry_vrm, sizeof a->hit.entry_vrm);
    a->hit.match = (store_match)sqlite3_column_int(st, 6);
    a->hit.substitutions = sqlite3_column_int(st, 7);
    a->hit.priority = sqlite3_column_int(st, 8);
    sq_col_text(st, 9, a->hit.reason, sizeof a->hit.reason);
    sq_col_text(st, 10, a->camera, sizeof a->camera);
    a->time_ms = sqlite3_column_int64(st, 11);
    a->created_ms = sqlite3_column_int64(st, 12);
    a->ack_ms = sqlite3_column_int64(st, 13);
    sq_col_text(st, 14, a->ack_by, sizeof a->ack_by);
    sq_col_text(st, 15, a->outcome, sizeof a->outcome);
}

store_code sq_create_alert(store *base, const store_alert *a, int64_t *id)
{
    sq_store *s = (sq_store *)base;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    rc = sq_insert_alert(s, a->read_id, &a->hit, a->vrm, a->camera, a->time_ms,
                         a->created_ms, id);
    if (rc == STORE_OK && !*id) {
        /* It existed: hand back its id, as the interface promises. */
        sqlite3_stmt *st = sq_prepare(s->writer, "SELECT id FROM alerts"
                                      " WHERE read_id = ?1 AND entry_id = ?2");
        if (st) {
            sqlite3_bind_text(st, 1, a->read_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, a->hit.entry_id);
            if (sqlite3_step(st) == SQLITE_ROW)
                *id = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        store_set_error("an alert for read '%s' and entry %lld exists",
                        a->read_id, (long long)a->hit.entry_id);
        sq_end(s, STORE_OK);
        return STORE_CONFLICT;
    }
    int64_t made = *id;
    rc = sq_end(s, rc);
    if (rc == STORE_OK)
        sq_alerts_committed(s, made);
    return rc;
}

store_code sq_get_alert(store *base, int64_t id, store_alert *out)
{
    sq_iter it;
    if (sq_iter_open(&it, (sq_store *)base,
                     "SELECT " ALERT_COLS " FROM alerts WHERE id = ?2", NULL, id) != STORE_OK)
        return STORE_ERR;
    int found = sq_iter_next(&it);
    if (found)
        fill_alert(it.st, out);
    store_code rc = sq_iter_close(&it);
    if (rc == STORE_OK && !found) {
        store_set_error("no alert %lld", (long long)id);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

store_code sq_list_alerts(store *base, const store_alert_query *q,
                          store_alert_cb cb, void *ctx)
{
    sq_iter it;
    int ascending = q->after_id > 0 || q->oldest_first;
    const char *sql = ascending
        ? "SELECT " ALERT_COLS " FROM alerts WHERE id > ?2"
          " AND (?1 IS NULL OR hotlist = ?1) AND (?3 = 0 OR ack_ms = 0)"
          " ORDER BY id LIMIT ?4"
        : "SELECT " ALERT_COLS " FROM alerts WHERE (?2 <= 0 OR id < ?2)"
          " AND (?1 IS NULL OR hotlist = ?1) AND (?3 = 0 OR ack_ms = 0)"
          " ORDER BY id DESC LIMIT ?4";
    if (sq_iter_open(&it, (sq_store *)base, sql, q->hotlist,
                     ascending ? q->after_id : q->before_id) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_int(it.st, 3, q->unacked_only);
    sqlite3_bind_int(it.st, 4, q->limit);
    store_alert a;
    while (sq_iter_next(&it)) {
        fill_alert(it.st, &a);
        if (cb(ctx, &a))
            break;
    }
    return sq_iter_close(&it);
}

store_code sq_ack_alert(store *base, int64_t id, const char *by,
                        const char *outcome, int64_t now_ms)
{
    sq_store *s = (sq_store *)base;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_prepare(s->writer, "SELECT ack_ms FROM alerts WHERE id = ?1");
    if (!st)
        return sq_end(s, STORE_ERR);
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    int64_t acked = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step == SQLITE_DONE) {
        store_set_error("no alert %lld", (long long)id);
        return sq_end(s, STORE_NOTFOUND);
    }
    if (step != SQLITE_ROW)
        return sq_end(s, sq_fail(s->writer, "acknowledge"));
    if (acked) {
        store_set_error("alert %lld was acknowledged already", (long long)id);
        return sq_end(s, STORE_CONFLICT);
    }
    st = sq_prepare(s->writer, "UPDATE alerts SET ack_ms = ?2, ack_by = ?3,"
                               " outcome = ?4 WHERE id = ?1");
    if (!st)
        return sq_end(s, STORE_ERR);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
    return sq_end(s, sq_run(s, st, "acknowledge"));
}

/* Delivers alerts after after_id; *delivered counts them. */
typedef struct wait_ctx {
    store_alert_cb cb;
    void *ctx;
    int delivered;
    int stop;
} wait_ctx;

static int deliver(void *p, const store_alert *a)
{
    wait_ctx *w = p;
    w->delivered++;
    w->stop = w->cb(w->ctx, a);
    return w->stop;
}

store_code sq_wait_alerts(store *base, int64_t after_id, int timeout_ms,
                          store_alert_cb cb, void *ctx)
{
    sq_store *s = (sq_store *)base;
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    for (;;) {
        wait_ctx w = { cb, ctx, 0, 0 };
        store_alert_query q = { .oldest_first = 1, .after_id = after_id, .limit = 1000 };
        store_code rc = sq_list_alerts(base, &q, deliver, &w);
        if (rc != STORE_OK || w.delivered)
            return rc;
        /* Sleep until this process commits an alert past after_id, or
         * 200 ms pass (other processes' alerts are seen by polling). */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec
            || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            return STORE_OK;
        struct timespec until = now;
        until.tv_nsec += 200000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (until.tv_sec > end.tv_sec
            || (until.tv_sec == end.tv_sec && until.tv_nsec > end.tv_nsec))
            until = end;
        pthread_mutex_lock(&s->alock);
        while (s->last_alert <= after_id
               && pthread_cond_timedwait(&s->acond, &s->alock, &until) == 0)
            ;
        pthread_mutex_unlock(&s->alock);
    }
}

/* --- webhook deliveries --- */

store_code sq_claim_delivery(store *base, int64_t now_ms, int64_t lease_ms,
                             store_delivery *out)
{
    sq_store *s = (sq_store *)base;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    /* The alert's columns first, as fill_alert() reads them. */
    sqlite3_stmt *st = sq_prepare(s->writer, "SELECT " ALERT_COLS ", d_id, url,"
        " attempts FROM alerts JOIN (SELECT id AS d_id, alert_id, url, attempts"
        " FROM deliveries WHERE state = 0 AND due_ms <= ?1 ORDER BY due_ms"
        " LIMIT 1) ON id = alert_id");
    if (!st)
        return sq_end(s, STORE_ERR);
    sqlite3_bind_int64(st, 1, now_ms);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        fill_alert(st, &out->alert);
        out->id = sqlite3_column_int64(st, 16);
        sq_col_text(st, 17, out->url, sizeof out->url);
        out->attempt = sqlite3_column_int(st, 18) + 1;
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE) {
        store_set_error("no webhook delivery is due");
        return sq_end(s, STORE_NOTFOUND);
    }
    if (step != SQLITE_ROW)
        return sq_end(s, sq_fail(s->writer, "claim delivery"));
    if (!(st = sq_prepare(s->writer, "UPDATE deliveries SET attempts = ?2,"
                                     " due_ms = ?3 WHERE id = ?1")))
        return sq_end(s, STORE_ERR);
    sqlite3_bind_int64(st, 1, out->id);
    sqlite3_bind_int(st, 2, out->attempt);
    sqlite3_bind_int64(st, 3, now_ms + lease_ms);
    return sq_end(s, sq_run(s, st, "claim delivery"));
}

store_code sq_finish_delivery(store *base, const store_delivery *d,
                              int64_t now_ms, int64_t retry_ms,
                              const char *error)
{
    sq_store *s = (sq_store *)base;
    int state = !error ? STORE_DELIVERY_DONE
                : retry_ms ? STORE_DELIVERY_PENDING : STORE_DELIVERY_FAILED;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    /* attempts still ours: nobody claimed it again after our lease. */
    sqlite3_stmt *st = sq_prepare(s->writer, "UPDATE deliveries SET state = ?3,"
        " due_ms = ?4, done_ms = ?5, error = ?6"
        " WHERE id = ?1 AND attempts = ?2 AND state = 0");
    if (!st)
        return sq_end(s, STORE_ERR);
    sqlite3_bind_int64(st, 1, d->id);
    sqlite3_bind_int(st, 2, d->attempt);
    sqlite3_bind_int(st, 3, state);
    sqlite3_bind_int64(st, 4, retry_ms);
    sqlite3_bind_int64(st, 5, state == STORE_DELIVERY_PENDING ? 0 : now_ms);
    sqlite3_bind_text(st, 6, error ? error : "", -1, SQLITE_STATIC);
    rc = sq_run(s, st, "finish delivery");
    if (rc == STORE_OK && !sqlite3_changes(s->writer)) {
        store_set_error("delivery %lld was claimed again", (long long)d->id);
        sq_end(s, STORE_OK);
        return STORE_CONFLICT;
    }
    return sq_end(s, rc);
}

/* --- audit --- */

#define AUDIT_COLS "id, time_ms, who, action, purpose, justification," \
    " authorisation, query, result_count, result, prev_hash, hash"

store_code sq_audit_insert(sq_store *s, store_audit *a)
{
    sqlite3_stmt *st = sq_prepare(s->writer,
                                  "SELECT hash FROM audit ORDER BY id DESC LIMIT 1");
    if (!st)
        return STORE_ERR;
    memset(a->prev_hash, '0', STORE_HASH_HEX - 1);
    a->prev_hash[STORE_HASH_HEX - 1] = 0;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        sq_col_text(st, 0, a->prev_hash, sizeof a->prev_hash);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return sq_fail(s->writer, "audit");
    store_audit_hash(a, a->prev_hash, a->hash);
    st = sq_prepare(s->writer, "INSERT INTO audit(time_ms, who, action, purpose,"
                    " justification, authorisation, query, result_count, result,"
                    " prev_hash, hash) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, a->time_ms);
    sqlite3_bind_text(st, 2, a->who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->purpose, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->justification, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->authorisation, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, a->query ? a->query : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, a->result_count);
    sqlite3_bind_text(st, 9, a->result ? a->result : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, a->prev_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, a->hash, -1, SQLITE_STATIC);
    if (sq_run(s, st, "audit") != STORE_OK)
        return STORE_ERR;
    a->id = sqlite3_last_insert_rowid(s->writer);
    return STORE_OK;
}

store_code sq_audit_append(store *base, store_audit *a)
{
    sq_store *s = (sq_store *)base;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    return sq_end(s, sq_audit_insert(s, a));
}

store_code sq_audit_list(store *base, int64_t after_id, store_audit_cb cb,
                         void *ctx)
{
    sq_iter it;
    if (sq_iter_open(&it, (sq_store *)base, "SELECT " AUDIT_COLS
                     " FROM audit WHERE id > ?2 ORDER BY id", NULL, after_id) != STORE_OK)
        return STORE_ERR;
    store_audit a;
    while (sq_iter_next(&it)) {
        memset(&a, 0, sizeof a);
        a.id = sqlite3_column_int64(it.st, 0);
        a.time_ms = sqlite3_column_int64(it.st, 1);
        sq_col_text(it.st, 2, a.who, sizeof a.who);
        sq_col_text(it.st, 3, a.action, sizeof a.action);
        sq_col_text(it.st, 4, a.purpose, sizeof a.purpose);
        sq_col_text(it.st, 5, a.justification, sizeof a.justification);
        sq_col_text(it.st, 6, a.authorisation, sizeof a.authorisation);
        a.query = (const char *)sqlite3_column_text(it.st, 7);
        a.result_count = sqlite3_column_int64(it.st, 8);
        a.result = (const char *)sqlite3_column_text(it.st, 9);
        sq_col_text(it.st, 10, a.prev_hash, sizeof a.prev_hash);
        sq_col_text(it.st, 11, a.hash, sizeof a.hash);
        if (cb(ctx, &a))
            break;
    }
    return sq_iter_close(&it);
}
