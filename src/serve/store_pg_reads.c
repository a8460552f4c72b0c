/*
 * store_pg_reads.c: storing, searching and fetching reads on PostgreSQL.
 *
 * A batch is one statement: the reads travel as binary arrays, unnest()
 * turns them into rows, the IDs go into read_ids (ON CONFLICT DO NOTHING
 * leaves out the ones stored before) and only the rows whose ID went in are
 * added to reads. One round trip and one commit per batch is what makes
 * ingest fast. A batch with hotlist hits adds its alerts in the same
 * transaction (store_pg_alerts.c).
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The columns every read listing selects, in pgs_read_row()'s order. */
#define PGS_READ_COLS "id, vrm, vrm_key, confidence, camera, time_ms, lane," \
    " direction, patch IS NOT NULL, overview IS NOT NULL, received_ms"

static void pgs_read_row(const PGresult *r, int i, store_read *out)
{
    memset(out, 0, sizeof *out);
    pgs_get_text(r, i, 0, out->id, sizeof out->id);
    pgs_get_text(r, i, 1, out->vrm, sizeof out->vrm);
    pgs_get_text(r, i, 2, out->vrm_key, sizeof out->vrm_key);
    out->confidence = pgs_get_f64(r, i, 3);
    pgs_get_text(r, i, 4, out->camera, sizeof out->camera);
    out->time_ms = pgs_get_i64(r, i, 5);
    out->lane = (int)pgs_get_i64(r, i, 6);
    pgs_get_text(r, i, 7, out->direction, sizeof out->direction);
    out->has_patch = PQgetvalue(r, i, 8)[0] == 't';
    out->has_overview = PQgetvalue(r, i, 9)[0] == 't';
    out->received_ms = pgs_get_i64(r, i, 10);
}

static const pgs_stmt st_insert = {
    "insert_reads",
    "WITH src AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::float8[], $5::text[], $6::bigint[], $7::integer[], $8::text[],"
    " $9::bytea[], $10::bytea[], $11::bigint[]) AS t(id, vrm, vrm_key,"
    " confidence, camera, time_ms, lane, direction, patch, overview,"
    " received_ms)),"
    " fresh AS (INSERT INTO read_ids (id, time_ms) SELECT id, time_ms FROM src"
    " ON CONFLICT DO NOTHING RETURNING id)"
    " INSERT INTO reads (id, vrm, vrm_key, confidence, camera, time_ms, lane,"
    " direction, patch, overview, received_ms)"
    " SELECT src.* FROM src JOIN fresh USING (id) RETURNING id"
};

#define PGS_READ_ARRAYS 11

/* A read's place in the batch, sorted by ID to find repeats and answers. */
typedef struct pgs_ord {
    const char *id;
    size_t i;
} pgs_ord;

static int pgs_by_id(const void *a, const void *b)
{
    const pgs_ord *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int64_t pgs_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs the batch statement (and the alerts) in one transaction; marks the
 * reads that went in. *code gets the SQLSTATE of a failure. */
static store_code pgs_insert_once(pgs_conn *c, const store_read *reads,
                                  const pgs_ord *order, size_t n,
                                  const int *first, store_insert *status,
                                  pgs_array *arr, char code[6])
{
    int has_hits = 0;
    int64_t now = pgs_now_ms();
    static const uint32_t oids[PGS_READ_ARRAYS] = {
        PGS_OID_TEXT, PGS_OID_TEXT, PGS_OID_TEXT, PGS_OID_FLOAT8, PGS_OID_TEXT,
        PGS_OID_INT8, PGS_OID_INT4, PGS_OID_TEXT, PGS_OID_BYTEA, PGS_OID_BYTEA,
        PGS_OID_INT8
    };
    for (int k = 0; k < PGS_READ_ARRAYS; k++)
        pgs_array_begin(&arr[k], oids[k]);
    for (size_t i = 0; i < n; i++) {
        const store_read *r = &reads[i];
        status[i] = STORE_DUPLICATE;
        if (!first[i])
            continue;
        has_hits |= r->n_hits > 0;
        pgs_array_text(&arr[0], r->id);
        pgs_array_text(&arr[1], r->vrm);
        pgs_array_text(&arr[2], r->vrm_key);
        pgs_array_float8(&arr[3], r->confidence);
        pgs_array_text(&arr[4], r->camera);
        pgs_array_int8(&arr[5], r->time_ms);
        pgs_array_int4(&arr[6], r->lane);
        pgs_array_text(&arr[7], r->direction);
        pgs_array_bytes(&arr[8], r->patch_len ? r->patch : NULL, r->patch_len);
        pgs_array_bytes(&arr[9], r->overview_len ? r->overview : NULL,
                        r->overview_len);
        pgs_array_int8(&arr[10], r->received_ms ? r->received_ms : now);
    }
    const char *vals[PGS_READ_ARRAYS];
    int lens[PGS_READ_ARRAYS], fmts[PGS_READ_ARRAYS];
    for (int k = 0; k < PGS_READ_ARRAYS; k++) {
        if (pgs_array_end(&arr[k]))
            return STORE_ERR;
        vals[k] = (const char *)arr[k].p;
        lens[k] = (int)arr[k].n;
        fmts[k] = 1;
    }

    /* Without hits the statement is its own transaction. */
    store_code rc = has_hits ? pgs_cmd(c, "BEGIN", NULL) : STORE_OK;
    if (rc != STORE_OK)
        return rc;
    PGresult *r = pgs_run(c, &st_insert, PGS_READ_ARRAYS, vals, lens, fmts, 0,
                          "storing reads", code);
    if (!r)
        return has_hits ? pgs_end(c, STORE_ERR) : STORE_ERR;
    for (int i = 0; i < PQntuples(r); i++) {
        /* order[] is sorted by ID: find this one. */
        const char *id = PQgetvalue(r, i, 0);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(order[mid].id, id) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && !strcmp(order[lo].id, id))
            status[order[lo].i] = STORE_INSERTED;
    }
    PQclear(r);
    if (!has_hits)
        return STORE_OK;
    return pgs_end(c, pgs_insert_alerts(c, reads, status, n));
}

store_code pgs_insert_reads(store *base, const store_read *reads, size_t n,
                            store_insert *status)
{
    pgs_store *s = (pgs_store *)base;
    if (!n)
        return STORE_OK;
    pgs_ord *order = malloc(n * sizeof *order);
    int *first = calloc(n, sizeof *first);
    pgs_array arr[PGS_READ_ARRAYS];
    memset(arr, 0, sizeof arr);
    if (!order || !first) {
        free(order);
        free(first);
        store_set_error("out of memory");
        return STORE_ERR;
    }
    /* Repeats of an ID within the batch are duplicates of its first. */
    for (size_t i = 0; i < n; i++)
        order[i] = (pgs_ord){reads[i].id, i};
    qsort(order, n, sizeof *order, pgs_by_id);
    for (size_t i = 0; i < n; i++)
        first[order[i].i] = i == 0 || strcmp(order[i].id, order[i - 1].id);

    store_code rc = pgs_ensure_partitions(s, reads, n, 0);
    pgs_conn *c = rc == STORE_OK ? pgs_get(s) : NULL;
    if (c) {
        char code[6] = "";
        rc = pgs_insert_once(c, reads, order, n, first, status, arr, code);
        /* 23514: no partition for a row: another node dropped a day this
         * process thought was there. Make it again and retry once. */
        if (rc != STORE_OK && !strcmp(code, "23514")) {
            rc = pgs_ensure_partitions(s, reads, n, 1);
            if (rc == STORE_OK)
                rc = pgs_insert_once(c, reads, order, n, first, status, arr,
                                     code);
        }
        pgs_put(s, c);
    } else {
        rc = STORE_ERR;
    }
    for (int k = 0; k < PGS_READ_ARRAYS; k++)
        pgs_array_free(&arr[k]);
    free(order);
    free(first);
    return rc;
}

/* Appends " AND <fragment>" with its parameter numbered in turn. */
typedef struct pgs_where {
    char sql[1024];
    size_t len;
    const char *vals[8];
    int n;
} pgs_where;

static void pgs_where_add(pgs_where *w, const char *fmt, const char *val)
{
    w->vals[w->n++] = val;
    int k = snprintf(w->sql + w->len, sizeof w->sql - w->len, fmt, w->n, w->n);
    if (k > 0)
        w->len += (size_t)k;
}

/* '*' and '?' to LIKE's '%' and '_', escaping LIKE's own specials. */
static void pgs_like(const char *pattern, char *out, size_t size)
{
    size_t j = 0;
    for (const char *p = pattern; *p && j + 3 < size; p++) {
        if (*p == '*') {
            out[j++] = '%';
        } else if (*p == '?') {
            out[j++] = '_';
        } else {
            if (*p == '%' || *p == '_' || *p == '\\')
                out[j++] = '\\';
            out[j++] = *p;
        }
    }
    out[j] = 0;
}

store_code pgs_search_reads(store *base, const store_query *q,
                            store_read_cb cb, void *ctx)
{
    pgs_store *s = (pgs_store *)base;
    pgs_where w = {.len = 0, .n = 0};
    pgs_num from, to, before, limit;
    char like[2 * STORE_VRM_MAX + 1];

    w.len = (size_t)snprintf(w.sql, sizeof w.sql, "SELECT " PGS_READ_COLS
                             " FROM reads WHERE true");
    if (q->vrm) {
        switch (q->match) {
        case STORE_MATCH_EXACT:
            pgs_where_add(&w, " AND vrm = $%d", q->vrm);
            break;
        case STORE_MATCH_PATTERN:
            pgs_like(q->vrm, like, sizeof like);
            pgs_where_add(&w, " AND vrm LIKE $%d", like);
            break;
        case STORE_MATCH_FUZZY:
            pgs_where_add(&w, " AND vrm_key = $%d", q->vrm);
            break;
        }
    }
    if (q->from_ms)
        pgs_where_add(&w, " AND time_ms >= $%d::bigint", pgs_i64(&from, q->from_ms));
    if (q->to_ms)
        pgs_where_add(&w, " AND time_ms <= $%d::bigint", pgs_i64(&to, q->to_ms));
    if (q->camera)
        pgs_where_add(&w, " AND camera = $%d", q->camera);
    if (q->before_ms && q->before_id) {
        pgs_where_add(&w, " AND time_ms <= $%d::bigint", pgs_i64(&before, q->before_ms));
        /* The row comparison repeats the bound so the index sees it. */
        w.vals[w.n++] = q->before_id;
        int k = snprintf(w.sql + w.len, sizeof w.sql - w.len,
                         " AND (time_ms, id) < ($%d::bigint, $%d)", w.n - 1, w.n);
        if (k > 0)
            w.len += (size_t)k;
    } else if (q->before_ms) {
        pgs_where_add(&w, " AND time_ms < $%d::bigint", pgs_i64(&before, q->before_ms));
    }
    pgs_where_add(&w, " ORDER BY time_ms DESC, id DESC LIMIT $%d::integer",
                  pgs_i64(&limit, q->limit > 0 ? q->limit : 1));

    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    PGresult *r = pgs_run_sql(c, w.sql, w.n, w.vals, "searching reads", NULL);
    pgs_put(s, c);
    if (!r)
        return STORE_ERR;
    store_read row;
    for (int i = 0; i < PQntuples(r); i++) {
        pgs_read_row(r, i, &row);
        if (cb(ctx, &row))
            break;
    }
    PQclear(r);
    return STORE_OK;
}

/* read_ids names the one partition to look in. */
static const pgs_stmt st_get_read = {
    "get_read",
    "SELECT " PGS_READ_COLS " FROM reads WHERE id = $1 AND time_ms ="
    " (SELECT time_ms FROM read_ids WHERE id = $1)"
};

store_code pgs_get_read(store *base, const char *id, store_read *out)
{
    pgs_store *s = (pgs_store *)base;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    PGresult *r = pgs_run(c, &st_get_read, 1, &id, NULL, NULL, 0,
                          "fetching a read", NULL);
    pgs_put(s, c);
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (PQntuples(r)) {
        pgs_read_row(r, 0, out);
    } else {
        store_set_error("no read with ID '%s'", id);
        rc = STORE_NOTFOUND;
    }
    PQclear(r);
    return rc;
}

static const pgs_stmt st_patch = {
    "get_patch",
    "SELECT patch FROM reads WHERE id = $1 AND time_ms ="
    " (SELECT time_ms FROM read_ids WHERE id = $1)"
};
static const pgs_stmt st_overview = {
    "get_overview",
    "SELECT overview FROM reads WHERE id = $1 AND time_ms ="
    " (SELECT time_ms FROM read_ids WHERE id = $1)"
};

store_code pgs_get_image(store *base, const char *id, store_image which,
                         void **data, size_t *len)
{
    pgs_store *s = (pgs_store *)base;
    *data = NULL;
    *len = 0;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    PGresult *r = pgs_run(c, which == STORE_IMAGE_PATCH ? &st_patch : &st_overview,
                          1, &id, NULL, NULL, 1, "fetching an image", NULL);
    pgs_put(s, c);
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (!PQntuples(r) || PQgetisnull(r, 0, 0)) {
        store_set_error("read '%s' has no %s image", id,
                        which == STORE_IMAGE_PATCH ? "patch" : "overview");
        rc = STORE_NOTFOUND;
    } else {
        size_t n = (size_t)PQgetlength(r, 0, 0);
        *data = malloc(n ? n : 1);
        if (*data) {
            memcpy(*data, PQgetvalue(r, 0, 0), n);
            *len = n;
        } else {
            store_set_error("out of memory");
            rc = STORE_ERR;
        }
    }
    PQclear(r);
    return rc;
}

static const pgs_stmt st_count = {
    "count_reads", "SELECT count(*) FROM read_ids"
};

store_code pgs_count_reads(store *base, int64_t *n)
{
    pgs_store *s = (pgs_store *)base;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    PGresult *r = pgs_run(c, &st_count, 0, NULL, NULL, NULL, 0,
                          "counting reads", NULL);
    pgs_put(s, c);
    if (!r)
        return STORE_ERR;
    *n = pgs_get_i64(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}

/* Unbounded ends of [from, to] as the widest bigint range. */
#define PGS_FROM(ms) ((ms) ? (ms) : INT64_MIN)
#define PGS_TO(ms) ((ms) ? (ms) : INT64_MAX)

static const pgs_stmt st_first = {
    "first_seen",
    "SELECT " PGS_READ_COLS " FROM reads WHERE vrm = $1 AND time_ms >= $2::bigint"
    " AND time_ms <= $3::bigint ORDER BY time_ms, id LIMIT 1"
};
static const pgs_stmt st_last = {
    "last_seen",
    "SELECT " PGS_READ_COLS " FROM reads WHERE vrm = $1 AND time_ms >= $2::bigint"
    " AND time_ms <= $3::bigint ORDER BY time_ms DESC, id DESC LIMIT 1"
};
static const pgs_stmt st_seen_count = {
    "seen_count",
    "SELECT count(*) FROM reads WHERE vrm = $1 AND time_ms >= $2::bigint"
    " AND time_ms <= $3::bigint"
};

store_code pgs_first_last_seen(store *base, const char *vrm, int64_t from_ms,
                               int64_t to_ms, store_read *first,
                               store_read *last, int64_t *count)
{
    pgs_store *s = (pgs_store *)base;
    pgs_num from, to;
    const char *vals[3] = {vrm, pgs_i64(&from, PGS_FROM(from_ms)),
                           pgs_i64(&to, PGS_TO(to_ms))};
    const pgs_stmt *stmts[3] = {&st_first, &st_last, &st_seen_count};
    PGresult *r[3] = {NULL, NULL, NULL};
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    /* One snapshot for all three, so they agree. */
    store_code rc = pgs_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                            "first and last seen");
    for (int k = 0; k < 3 && rc == STORE_OK; k++)
        if (!(r[k] = pgs_run(c, stmts[k], 3, vals, NULL, NULL, 0,
                             "first and last seen", NULL)))
            rc = STORE_ERR;
    rc = pgs_end(c, rc);
    pgs_put(s, c);
    if (rc == STORE_OK && !PQntuples(r[0])) {
        store_set_error("%s was never seen", vrm);
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_OK) {
        pgs_read_row(r[0], 0, first);
        pgs_read_row(r[1], 0, last);
        *count = pgs_get_i64(r[2], 0, 0);
    }
    for (int k = 0; k < 3; k++)
        PQclear(r[k]);
    return rc;
}
