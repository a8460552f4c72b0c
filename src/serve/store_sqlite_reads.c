/*
 * store_sqlite_reads.c: the SQLite engine's reads: durable batch insert
 * (with the alerts of new reads in the same transaction), search, images,
 * retention, and the investigation queries over reads.
 */
#include "store_sqlite.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_COLS "id, vrm, vrm_key, confidence, camera, time_ms, lane," \
    " direction, patch IS NOT NULL, overview IS NOT NULL, received_ms"

/*
 * Binds the lookalike key of vrm (a VRM or a pattern) at i. The only index
 * on a read's plate is on vrm_key (migration 3: one random-key index fewer
 * to update per read), so every condition on vrm comes with one on vrm_key
 * for the index to serve: the key is per character, so a plate matching a
 * pattern has a key matching the pattern's key.
 */
static void bind_key(sqlite3_stmt *st, int i, const char *vrm)
{
    char key[16];
    valid_key(vrm, key);
    sqlite3_bind_text(st, i, key, -1, SQLITE_TRANSIENT);
}

/* Fills r from a row selected with READ_COLS starting at column c. */
static void row_read(sqlite3_stmt *st, int c, store_read *r)
{
    memset(r, 0, sizeof *r);
    sq_col_text(st, c + 0, r->id, sizeof r->id);
    sq_col_text(st, c + 1, r->vrm, sizeof r->vrm);
    sq_col_text(st, c + 2, r->vrm_key, sizeof r->vrm_key);
    r->confidence = sqlite3_column_double(st, c + 3);
    sq_col_text(st, c + 4, r->camera, sizeof r->camera);
    r->time_ms = sqlite3_column_int64(st, c + 5);
    r->lane = sqlite3_column_int(st, c + 6);
    sq_col_text(st, c + 7, r->direction, sizeof r->direction);
    r->has_patch = sqlite3_column_int(st, c + 8);
    r->has_overview = sqlite3_column_int(st, c + 9);
    r->received_ms = sqlite3_column_int64(st, c + 10);
}

/* Hands each row of an open query to cb as a read, then closes it. */
static store_code each_read(sq_iter *it, store_read_cb cb, void *ctx)
{
    store_read r;
    while (sq_iter_next(it)) {
        row_read(it->st, 0, &r);
        if (cb(ctx, &r))
            break;
    }
    return sq_iter_close(it);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (p && n)
        sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

store_code sq_insert_alert(sq_store *s, const char *read_id, const store_hit *h,
                           const char *vrm, const char *camera, int64_t time_ms,
                           int64_t created_ms, int64_t *id)
{
    sqlite3_stmt *st = sq_prepare(s->writer,
        "INSERT INTO alerts(read_id, entry_id, hotlist, vrm, entry_vrm, match,"
        " substitutions, priority, reason, camera, time_ms, created_ms)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
        " ON CONFLICT(read_id, entry_id) DO NOTHING");
    if (!st)
        return STORE_ERR;
    sq_bind_text(st, 1, read_id);
    sqlite3_bind_int64(st, 2, h->entry_id);
    sq_bind_text(st, 3, h->hotlist);
    sq_bind_text(st, 4, vrm);
    sq_bind_text(st, 5, h->entry_vrm);
    sqlite3_bind_int(st, 6, h->match);
    sqlite3_bind_int(st, 7, h->substitutions);
    sqlite3_bind_int(st, 8, h->priority);
    sqlite3_bind_text(st, 9, h->reason, -1, SQLITE_STATIC);
    sq_bind_text(st, 10, camera);
    sqlite3_bind_int64(st, 11, time_ms);
    sqlite3_bind_int64(st, 12, created_ms);
    if (sq_run(s, st, "insert alert") != STORE_OK)
        return STORE_ERR;
    *id = sqlite3_changes(s->writer) ? sqlite3_last_insert_rowid(s->writer) : 0;
    /* Its webhook deliveries, due at once (store_set_webhooks). */
    for (int i = 0; *id && i < s->base.n_webhooks; i++) {
        if (!(st = sq_prepare(s->writer, "INSERT INTO deliveries(alert_id, url,"
                                         " due_ms) VALUES(?1, ?2, ?3)")))
            return STORE_ERR;
        sqlite3_bind_int64(st, 1, *id);
        sqlite3_bind_text(st, 2, s->base.webhooks[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, created_ms);
        if (sq_run(s, st, "insert delivery") != STORE_OK)
            return STORE_ERR;
    }
    return STORE_OK;
}

/*
 * Group commit. Reads arrive from many request threads at once; each
 * transaction rewrites the index pages it touched into the WAL, so one
 * transaction for several batches writes far less than one each. A caller
 * queues its batch; whoever finds no commit under way leads: it takes every
 * queued batch, stores them in one transaction and hands each its outcome.
 */
struct sq_batch {
    const store_read *reads;
    size_t n;
    store_insert *status;
    store_code rc;
    int done;
    char err[256];
    sq_batch *next;
};

/* Stores a group of batches in one transaction; returns the outcome for
 * all. *last_alert gets the highest alert id made. */
static store_code write_group(sq_store *s, sq_batch *group, int64_t *last_alert)
{
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_prepare(s->writer,
        "INSERT INTO reads(id, vrm, vrm_key, confidence, camera, time_ms, lane,"
        " direction, patch, overview, received_ms)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) ON CONFLICT(id) DO NOTHING");
    if (!st)
        return sq_end(s, STORE_ERR);
    for (sq_batch *b = group; b && rc == STORE_OK; b = b->next) {
        for (size_t i = 0; i < b->n && rc == STORE_OK; i++) {
            const store_read *r = &b->reads[i];
            sqlite3_reset(st);
            sq_bind_text(st, 1, r->id);
            sq_bind_text(st, 2, r->vrm);
            sqlite3_bind_text(st, 3, r->vrm_key, -1, SQLITE_STATIC);
            sqlite3_bind_double(st, 4, r->confidence);
            sq_bind_text(st, 5, r->camera);
            sqlite3_bind_int64(st, 6, r->time_ms);
            sqlite3_bind_int(st, 7, r->lane);
            sqlite3_bind_text(st, 8, r->direction, -1, SQLITE_STATIC);
            bind_blob(st, 9, r->patch, r->patch_len);
            bind_blob(st, 10, r->overview, r->overview_len);
            sqlite3_bind_int64(st, 11, r->received_ms);
            if (sqlite3_step(st) != SQLITE_DONE) {
                rc = sq_fail(s->writer, "insert read");
                break;
            }
            b->status[i] = sqlite3_changes(s->writer) ? STORE_INSERTED : STORE_DUPLICATE;
            for (int h = 0; b->status[i] == STORE_INSERTED && h < r->n_hits; h++) {
                int64_t id;
                rc = sq_insert_alert(s, r->id, &r->hits[h], r->vrm, r->camera,
                                     r->time_ms, r->received_ms, &id);
                if (rc != STORE_OK)
                    break;
                if (id > *last_alert)
                    *last_alert = id;
            }
        }
    }
    sqlite3_finalize(st);
    return sq_end(s, rc);
}

store_code sq_insert_reads(store *base, const store_read *reads, size_t n,
                           store_insert *status)
{
    sq_store *s = (sq_store *)base;
    sq_batch me = { .reads = reads, .n = n, .status = status };
    pthread_mutex_lock(&s->glock);
    *(s->gtail ? &s->gtail->next : &s->gqueue) = &me;
    s->gtail = &me;
    while (!me.done && s->gleader)
        pthread_cond_wait(&s->gcond, &s->glock);
    if (!me.done) {
        /* Lead one round: everything queued, this batch included. */
        sq_batch *group = s->gqueue;
        s->gqueue = s->gtail = NULL;
        s->gleader = 1;
        pthread_mutex_unlock(&s->glock);
        int64_t last_alert = 0;
        store_code rc = write_group(s, group, &last_alert);
        if (rc == STORE_OK && last_alert)
            sq_alerts_committed(s, last_alert);
        pthread_mutex_lock(&s->glock);
        for (sq_batch *b = group, *next; b; b = next) {
            next = b->next; /* b may be gone once done is seen */
            b->rc = rc;
            if (rc != STORE_OK)
                snprintf(b->err, sizeof b->err, "%s", store_error());
            b->done = 1;
        }
        s->gleader = 0;
        pthread_cond_broadcast(&s->gcond);
    }
    pthread_mutex_unlock(&s->glock);
    if (me.rc != STORE_OK)
        store_set_error("%s", me.err);
    return me.rc;
}

store_code sq_search_reads(store *base, const store_query *q, store_read_cb cb,
                           void *ctx)
{
    sq_store *s = (sq_store *)base;
    /* Only the conditions asked for, so the planner sees which index fits. */
    char sql[768];
    size_t len = (size_t)snprintf(sql, sizeof sql,
                                  "SELECT " READ_COLS " FROM reads WHERE 1");
    if (q->vrm) {
        static const char *const cond[] = {
            [STORE_MATCH_EXACT] = " AND vrm_key = ?8 AND vrm = ?1",
            [STORE_MATCH_PATTERN] = " AND vrm_key GLOB ?8 AND vrm GLOB ?1",
            [STORE_MATCH_FUZZY] = " AND vrm_key = ?1",
        };
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s", cond[q->match]);
    }
    if (q->from_ms)
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND time_ms >= ?2");
    if (q->to_ms)
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND time_ms <= ?3");
    if (q->camera)
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND camera = ?4");
    if (q->before_ms)
        len += (size_t)snprintf(sql + len, sizeof sql - len,
                                " AND (time_ms < ?5 OR (time_ms = ?5 AND id < ?6))");
    snprintf(sql + len, sizeof sql - len,
             " ORDER BY time_ms DESC, id DESC LIMIT ?7");

    sq_iter it;
    if (sq_iter_open(&it, s, sql, q->vrm, q->from_ms) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_int64(it.st, 3, q->to_ms);
    if (q->camera)
        sqlite3_bind_text(it.st, 4, q->camera, -1, SQLITE_STATIC);
    sqlite3_bind_int64(it.st, 5, q->before_ms);
    sqlite3_bind_text(it.st, 6, q->before_id ? q->before_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(it.st, 7, q->limit);
    if (q->vrm && q->match != STORE_MATCH_FUZZY)
        bind_key(it.st, 8, q->vrm);
    return each_read(&it, cb, ctx);
}

/* Copies the first read a query yields into *out; NOTFOUND when none. */
static int copy_read(void *ctx, const store_read *r)
{
    *(store_read *)ctx = *r;
    return 1;
}

store_code sq_get_read(store *base, const char *id, store_read *out)
{
    sq_iter it;
    if (sq_iter_open(&it, (sq_store *)base, "SELECT " READ_COLS " FROM reads WHERE id = ?1",
                     id, 0) != STORE_OK)
        return STORE_ERR;
    out->id[0] = 0;
    store_code rc = each_read(&it, copy_read, out);
    if (rc == STORE_OK && !out->id[0]) {
        store_set_error("no read with ID '%s'", id);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

store_code sq_get_image(store *base, const char *id, store_image which,
                        void **data, size_t *len)
{
    sq_store *s = (sq_store *)base;
    *data = NULL;
    *len = 0;
    sq_iter it;
    if (sq_iter_open(&it, s, which == STORE_IMAGE_PATCH
                     ? "SELECT patch FROM reads WHERE id = ?1"
                     : "SELECT overview FROM reads WHERE id = ?1", id, 0) != STORE_OK)
        return STORE_ERR;
    store_code rc = STORE_NOTFOUND;
    if (sq_iter_next(&it) && sqlite3_column_type(it.st, 0) == SQLITE_BLOB) {
        size_t n = (size_t)sqlite3_column_bytes(it.st, 0);
        if ((*data = malloc(n ? n : 1))) {
            memcpy(*data, sqlite3_column_blob(it.st, 0), n);
            *len = n;
            rc = STORE_OK;
        } else {
            store_set_error("out of memory");
            rc = STORE_ERR;
        }
    }
    store_code step = sq_iter_close(&it);
    if (step != STORE_OK && rc == STORE_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
    }
    if (step != STORE_OK)
        return step;
    if (rc == STORE_NOTFOUND)
        store_set_error("read '%s' has no such image", id);
    return rc;
}

store_code sq_count_reads(store *base, int64_t *n)
{
    return sq_one_int((sq_store *)base, "SELECT count(*) FROM reads", n);
}

/* Runs one retention DELETE bound to the cutoff on the writer. */
static store_code delete_before(sq_store *s, const char *sql, int64_t cutoff_ms)
{
    sqlite3_stmt *st = sq_prepare(s->writer, sql);
    if (!st)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    return sq_run(s, st, "retention");
}

store_code sq_delete_reads_before(store *base, int64_t cutoff_ms, store_audit *a,
                                  int64_t *deleted)
{
    sq_store *s = (sq_store *)base;
    *deleted = 0;
    store_code rc = sq_begin(s);
    if (rc != STORE_OK)
        return rc;
    rc = delete_before(s, "DELETE FROM alerts WHERE read_id IN"
                          " (SELECT id FROM reads WHERE time_ms < ?1)", cutoff_ms);
    if (rc == STORE_OK)
        rc = delete_before(s, "DELETE FROM reads WHERE time_ms < ?1", cutoff_ms);
    if (rc == STORE_OK) {
        a->result_count = sqlite3_changes64(s->writer);
        rc = sq_audit_insert(s, a);
    }
    rc = sq_end(s, rc);
    if (rc == STORE_OK)
        *deleted = a->result_count;
    return rc;
}

store_code sq_first_last_seen(store *base, const char *vrm, int64_t from_ms,
                              int64_t to_ms, store_read *first,
                              store_read *last, int64_t *count)
{
    sq_store *s = (sq_store *)base;
    if (!to_ms)
        to_ms = INT64_MAX;
    /* Two ends of the (vrm_key, time_ms) index and a count along it. */
    sq_iter it;
    if (sq_iter_open(&it, s,
        "SELECT (SELECT count(*) FROM reads WHERE vrm_key = ?4 AND vrm = ?1"
        "  AND time_ms BETWEEN ?2 AND ?3), f.*, l.* FROM"
        " (SELECT " READ_COLS " FROM reads WHERE vrm_key = ?4 AND vrm = ?1"
        "  AND time_ms BETWEEN ?2 AND ?3 ORDER BY time_ms, id LIMIT 1) f,"
        " (SELECT " READ_COLS " FROM reads WHERE vrm_key = ?4 AND vrm = ?1"
        "  AND time_ms BETWEEN ?2 AND ?3 ORDER BY time_ms DESC, id DESC LIMIT 1) l",
        vrm, from_ms) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_int64(it.st, 3, to_ms);
    bind_key(it.st, 4, vrm);
    int found = sq_iter_next(&it);
    if (found) {
        *count = sqlite3_column_int64(it.st, 0);
        row_read(it.st, 1, first);
        row_read(it.st, 12, last);
    }
    store_code rc = sq_iter_close(&it);
    if (rc == STORE_OK && !found) {
        store_set_error("%s was not seen in that time", vrm);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

store_code sq_convoy(store *base, const char *vrm, int64_t from_ms,
                     int64_t to_ms, int64_t window_ms, int min_count, int limit,
                     store_convoy_cb cb, void *ctx)
{
    sq_store *s = (sq_store *)base;
    if (!to_ms)
        to_ms = INT64_MAX;
    sq_iter it;
    if (sq_iter_open(&it, s,
        "WITH t AS (SELECT id, camera, time_ms FROM reads"
        "  WHERE vrm_key = ?7 AND vrm = ?1 AND time_ms BETWEEN ?2 AND ?3)"
        " SELECT r.vrm, count(DISTINCT t.id) AS n, count(DISTINCT r.camera)"
        " FROM t JOIN reads r ON r.camera = t.camera"
        "  AND r.time_ms BETWEEN t.time_ms - ?4 AND t.time_ms + ?4"
        " WHERE r.vrm <> ?1 GROUP BY r.vrm HAVING count(DISTINCT t.id) >= ?5"
        " ORDER BY n DESC, r.vrm LIMIT ?6", vrm, from_ms) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_int64(it.st, 3, to_ms);
    sqlite3_bind_int64(it.st, 4, window_ms);
    sqlite3_bind_int(it.st, 5, min_count);
    sqlite3_bind_int(it.st, 6, limit);
    bind_key(it.st, 7, vrm);
    store_convoy c;
    while (sq_iter_next(&it)) {
        sq_col_text(it.st, 0, c.vrm, sizeof c.vrm);
        c.count = sqlite3_column_int64(it.st, 1);
        c.cameras = sqlite3_column_int64(it.st, 2);
        if (cb(ctx, &c))
            break;
    }
    return sq_iter_close(&it);
}

store_code sq_journeys(store *base, const char *camera_a, const char *camera_b,
                       const char *vrm, int64_t from_ms, int64_t to_ms,
                       int64_t max_ms, int limit, store_journey_cb cb, void *ctx)
{
    sq_store *s = (sq_store *)base;
    if (!to_ms)
        to_ms = INT64_MAX;
    sq_iter it;
    if (sq_iter_open(&it, s,
        "SELECT a.vrm, a.id, a.time_ms, b.id, b.time_ms FROM reads a"
        " JOIN reads b ON b.id = (SELECT id FROM reads WHERE vrm_key = a.vrm_key"
        "  AND vrm = a.vrm AND camera = ?3 AND time_ms > a.time_ms AND time_ms <= a.time_ms + ?5"
        "  ORDER BY time_ms LIMIT 1)"
        " WHERE a.camera = ?1 AND a.time_ms BETWEEN ?2 AND ?4"
        " AND (?6 IS NULL OR a.vrm = ?6)"
        " ORDER BY a.time_ms, a.id LIMIT ?7", camera_a, from_ms) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_text(it.st, 3, camera_b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(it.st, 4, to_ms);
    sqlite3_bind_int64(it.st, 5, max_ms);
    sq_bind_text(it.st, 6, vrm);
    sqlite3_bind_int(it.st, 7, limit);
    store_journey j;
    while (sq_iter_next(&it)) {
        sq_col_text(it.st, 0, j.vrm, sizeof j.vrm);
        sq_col_text(it.st, 1, j.read_a, sizeof j.read_a);
        j.time_a = sqlite3_column_int64(it.st, 2);
        sq_col_text(it.st, 3, j.read_b, sizeof j.read_b);
        j.time_b = sqlite3_column_int64(it.st, 4);
        if (cb(ctx, &j))
            break;
    }
    return sq_iter_close(&it);
}
