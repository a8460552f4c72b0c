/*
 * store_pg_reads.c: storing, searching and fetching reads on PostgreSQL.
 *
 * A batch is one statement: the reads travel as binary arrays, unnest()
 * turns them into rows, the IDs go into read_ids (ON CONFLICT DO NOTHING
 * leaves out the ones stored before), only the rows whose ID went in are
 * added to reads, and their VRMs' days to vrm_days. One round trip and one
 * commit per batch is what makes ingest fast. Keys go in sorted, so two
 * batches that share some never wait for each other in a cycle. A batch
 * with hotlist hits adds its alerts in the same transaction
 * (store_pg_alerts.c).
 *
 * Searches first list the days that can hold an answer (from vrm_days for
 * a VRM, key or pattern; every partition otherwise), newest first, then
 * query reads a few days at a time with those days' time ranges written
 * into the statement, so the planner opens only those partitions. Days
 * are disjoint, so the rows of one chunk are all newer than the next's and
 * the chunks' results join in order; the search stops once it has enough.
 */
#include "store_pg.h"

#include <stdarg.h>
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
    " ORDER BY id ON CONFLICT DO NOTHING RETURNING id),"
    " days AS (INSERT INTO vrm_days (vrm, day, vrm_key)"
    " SELECT DISTINCT vrm, floor(time_ms / 86400000.0)::integer, vrm_key"
    " FROM src JOIN fresh USING (id) ORDER BY 1, 2 ON CONFLICT DO NOTHING)"
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

static int pgs_ord_cmp(const void *a, const void *b)
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
static store_code pgs_insert_once(const store *st, pgs_conn *c,
                                  const store_read *reads,
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
    int64_t last;
    rc = pgs_end(c, pgs_insert_alerts(st, c, reads, status, n, &last));
    if (rc == STORE_OK && last)
        store_alerts_committed(st, last);
    return rc;
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
    qsort(order, n, sizeof *order, pgs_ord_cmp);
    for (size_t i = 0; i < n; i++)
        first[order[i].i] = i == 0 || strcmp(order[i].id, order[i - 1].id);

    store_code rc = pgs_ensure_partitions(s, reads, n, 0);
    pgs_conn *c = rc == STORE_OK ? pgs_get(s) : NULL;
    if (c) {
        char code[6] = "";
        rc = pgs_insert_once(base, c, reads, order, n, first, status, arr,
                             code);
        /* 23514: no partition for a row: another node dropped a day this
         * process thought was there. Make it again and retry once. */
        if (rc != STORE_OK && !strcmp(code, "23514")) {
            rc = pgs_ensure_partitions(s, reads, n, 1);
            if (rc == STORE_OK)
                rc = pgs_insert_once(base, c, reads, order, n, first, status,
                                     arr, code);
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

/* Days queried per statement. */
#define PGS_CHUNK_DAYS 8

/* SQL built from fixed pieces, values numbered as parameters in turn. */
typedef struct pgs_sql {
    char text[32768];
    size_t len;
    int full;                      /* a piece did not fit */
    const char *vals[8];
    int n;
} pgs_sql;

static void pgs_sql_add(pgs_sql *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pgs_sql_add(pgs_sql *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(q->text + q->len, sizeof q->text - q->len, fmt, ap);
    va_end(ap);
    if (k < 0 || q->len + (size_t)k >= sizeof q->text) {
        q->full = 1;
        q->len = sizeof q->text - 1;
    } else {
        q->len += (size_t)k;
    }
}

/* Appends fmt (with one %d for the parameter's number) and its value. */
static void pgs_sql_param(pgs_sql *q, const char *fmt, const char *val)
{
    q->vals[q->n++] = val;
    pgs_sql_add(q, fmt, q->n);
}

/*
 * Appends " AND (time_ms >= a AND time_ms < b OR ...)" for days[0..n) of
 * r's column 0 from row `from`, newest first, runs of consecutive days as
 * one range. The bounds are numbers this engine computed, written as
 * literals so the planner prunes partitions while planning. When they do
 * not all fit the statement goes without (slower, same answer).
 */
static void pgs_sql_days(pgs_sql *q, const PGresult *r, int from, int n)
{
    size_t len = q->len;
    pgs_sql_add(q, " AND (");
    for (int i = from; i < from + n;) {
        int j = i;
        while (j + 1 < from + n && pgs_get_i64(r, j + 1, 0) == pgs_get_i64(r, j, 0) - 1)
            j++;
        pgs_sql_add(q, "%s(time_ms >= %lld AND time_ms < %lld)", i > from ? " OR " : "",
                    (long long)(pgs_get_i64(r, j, 0) * PGS_DAY_MS),
                    (long long)((pgs_get_i64(r, i, 0) + 1) * PGS_DAY_MS));
        i = j + 1;
    }
    pgs_sql_add(q, ")");
    if (q->full) {
        q->full = 0;
        q->len = len;
        q->text[len] = 0;
    }
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

static const pgs_stmt st_days_exact = {
    "days_exact",
    "SELECT day, anpr_day_table(day) FROM vrm_days WHERE vrm = $1"
    " AND day BETWEEN $2::bigint AND $3::bigint ORDER BY day DESC"
};
static const pgs_stmt st_days_key = {
    "days_key",
    "SELECT DISTINCT day, anpr_day_table(day) FROM vrm_days WHERE vrm_key = $1"
    " AND day BETWEEN $2::bigint AND $3::bigint ORDER BY day DESC"
};
static const pgs_stmt st_days_like = {
    "days_like",
    "SELECT DISTINCT day, anpr_day_table(day) FROM vrm_days WHERE vrm LIKE $1"
    " AND day BETWEEN $2::bigint AND $3::bigint ORDER BY day DESC"
};

/*
 * The days that may hold reads matching (match, vrm) within [from, to]
 * (0: unbounded), newest first: column 0 the day, 1 its partition.
 * vrm NULL: every day with a partition. like is vrm as a LIKE pattern.
 */
static PGresult *pgs_days_for(pgs_conn *c, store_match match, const char *vrm,
                              const char *like, int64_t from_ms, int64_t to_ms)
{
    int64_t lo = from_ms ? pgs_day(from_ms) : INT32_MIN;
    int64_t hi = to_ms ? pgs_day(to_ms) : INT32_MAX;
    if (!vrm)
        return pgs_partition_days(c, lo, hi);
    pgs_num a, b;
    const char *vals[3] = {match == STORE_MATCH_PATTERN ? like : vrm,
                           pgs_i64(&a, lo), pgs_i64(&b, hi)};
    const pgs_stmt *st = match == STORE_MATCH_EXACT ? &st_days_exact
                       : match == STORE_MATCH_FUZZY ? &st_days_key
                       : &st_days_like;
    return pgs_run(c, st, 3, vals, NULL, NULL, 0, "listing days to search", NULL);
}

/* Appends one day's branch of a search: its partition, the filters, the
 * order and the limit (parameter number lim). */
static void pgs_sql_branch(pgs_sql *w, pgs_conn *c, const char *table,
                           const char *filters, int lim)
{
    char *quoted = PQescapeIdentifier(c->pg, table, strlen(table));
    if (!quoted) {
        w->full = 1;
        return;
    }
    pgs_sql_add(w, "(SELECT " PGS_READ_COLS " FROM %s WHERE true%s"
                " ORDER BY time_ms DESC, id DESC LIMIT $%d::integer)",
                quoted, filters, lim);
    PQfreemem(quoted);
}

/* Runs one chunk of days, handing rows to cb while *limit lasts; *stop
 * when cb asked to. code gets a failure's SQLSTATE. */
static store_code pgs_search_chunk(pgs_conn *c, pgs_sql *w, const PGresult *days,
                                   int from, int n, const char *filters,
                                   int *limit, int *stop, store_read_cb cb,
                                   void *ctx, char code[6])
{
    pgs_num lim;
    int n_params = w->n;
    w->vals[w->n++] = pgs_i64(&lim, *limit);
    w->len = 0;
    pgs_sql_add(w, "SELECT * FROM (");
    for (int i = from; i < from + n; i++) {
        if (i > from)
            pgs_sql_add(w, " UNION ALL ");
        pgs_sql_branch(w, c, PQgetvalue(days, i, 1), filters, w->n);
    }
    pgs_sql_add(w, ") u ORDER BY time_ms DESC, id DESC LIMIT $%d::integer", w->n);
    w->n = n_params + 1;
    PGresult *r = w->full ? NULL : pgs_run_sql(c, w->text, w->n, w->vals,
                                               "searching reads", code);
    w->n = n_params;
    if (w->full) {
        w->full = 0;
        store_set_error("postgres: search statement too long");
    }
    if (!r)
        return STORE_ERR;
    store_read row;
    for (int j = 0; j < PQntuples(r) && !*stop; j++) {
        pgs_read_row(r, j, &row);
        --*limit;
        *stop = cb(ctx, &row);
    }
    PQclear(r);
    return STORE_OK;
}

store_code pgs_search_reads(store *base, const store_query *q,
                            store_read_cb cb, void *ctx)
{
    pgs_store *s = (pgs_store *)base;
    pgs_sql *w = calloc(1, sizeof *w);
    pgs_num from, to, before;
    char like[2 * STORE_VRM_MAX + 1] = "", filters[512];
    int limit = q->limit > 0 ? q->limit : 1, stop = 0;

    if (!w) {
        store_set_error("out of memory");
        return STORE_ERR;
    }
    /* The filters every day's branch shares, and their parameters. */
    if (q->vrm && q->match == STORE_MATCH_PATTERN)
        pgs_like(q->vrm, like, sizeof like);
    if (q->vrm)
        pgs_sql_param(w, q->match == STORE_MATCH_EXACT ? " AND vrm = $%d"
                          : q->match == STORE_MATCH_FUZZY ? " AND vrm_key = $%d"
                          : " AND vrm LIKE $%d",
                      q->match == STORE_MATCH_PATTERN ? like : q->vrm);
    if (q->from_ms)
        pgs_sql_param(w, " AND time_ms >= $%d::bigint", pgs_i64(&from, q->from_ms));
    if (q->to_ms)
        pgs_sql_param(w, " AND time_ms <= $%d::bigint", pgs_i64(&to, q->to_ms));
    if (q->camera)
        pgs_sql_param(w, " AND camera = $%d", q->camera);
    if (q->before_ms && q->before_id) {
        /* The plain bound lets the index see it. */
        w->vals[w->n++] = pgs_i64(&before, q->before_ms);
        w->vals[w->n++] = q->before_id;
        pgs_sql_add(w, " AND time_ms <= $%d::bigint AND (time_ms, id) <"
                    " ($%d::bigint, $%d)", w->n - 1, w->n - 1, w->n);
    } else if (q->before_ms) {
        pgs_sql_param(w, " AND time_ms < $%d::bigint", pgs_i64(&before, q->before_ms));
    }
    /* Fixed pieces and at most 8 parameters: it always fits. */
    memcpy(filters, w->text, w->len < sizeof filters ? w->len + 1 : 1);

    pgs_conn *c = pgs_get(s);
    if (!c) {
        free(w);
        return STORE_ERR;
    }
    int64_t last = q->to_ms;
    if (q->before_ms && (!last || q->before_ms < last))
        last = q->before_ms;
    store_code rc = STORE_OK;
    /* A day dropped by retention between listing and reading it (42P01,
     * no such table) sends the search round again, once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *days = pgs_days_for(c, q->vrm ? q->match : STORE_MATCH_EXACT,
                                      q->vrm, like, q->from_ms, last);
        rc = days ? STORE_OK : STORE_ERR;
        int n_days = days ? PQntuples(days) : 0;
        char code[6] = "";
        for (int i = 0; i < n_days && limit > 0 && !stop && rc == STORE_OK;
             i += PGS_CHUNK_DAYS)
            rc = pgs_search_chunk(c, w, days, i, n_days - i < PGS_CHUNK_DAYS ?
                                  n_days - i : PGS_CHUNK_DAYS, filters, &limit,
                                  &stop, cb, ctx, code);
        PQclear(days);
        if (rc == STORE_OK || strcmp(code, "42P01"))
            break;
    }
    pgs_put(s, c);
    free(w);
    return rc;
}

static const pgs_stmt st_read_time = {
    "read_time", "SELECT time_ms FROM read_ids WHERE id = $1"
};

/*
 * Runs st (whose $1 is the ID and $2 the read's time) on the partition that
 * read_ids names, into *out; STORE_NOTFOUND when there is no such read.
 */
static store_code pgs_by_id(pgs_store *s, const pgs_stmt *st, const char *id,
                            int binary, PGresult **out)
{
    *out = NULL;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    store_code rc = STORE_ERR;
    PGresult *r = pgs_run(c, &st_read_time, 1, &id, NULL, NULL, 0,
                          "finding a read", NULL);
    if (r && PQntuples(r)) {
        const char *vals[2] = {id, PQgetvalue(r, 0, 0)};
        *out = pgs_run(c, st, 2, vals, NULL, NULL, binary, "fetching a read", NULL);
        rc = !*out ? STORE_ERR : PQntuples(*out) ? STORE_OK : STORE_NOTFOUND;
    } else if (r) {
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_NOTFOUND)
        store_set_error("no read with ID '%s'", id);
    PQclear(r);
    pgs_put(s, c);
    return rc;
}

static const pgs_stmt st_get_read = {
    "get_read",
    "SELECT " PGS_READ_COLS " FROM reads WHERE id = $1 AND time_ms = $2::bigint"
};

store_code pgs_get_read(store *base, const char *id, store_read *out)
{
    PGresult *r;
    store_code rc = pgs_by_id((pgs_store *)base, &st_get_read, id, 0, &r);
    if (rc == STORE_OK)
        pgs_read_row(r, 0, out);
    PQclear(r);
    return rc;
}

static const pgs_stmt st_patch = {
    "get_patch", "SELECT patch FROM reads WHERE id = $1 AND time_ms = $2::bigint"
};
static const pgs_stmt st_overview = {
    "get_overview",
    "SELECT overview FROM reads WHERE id = $1 AND time_ms = $2::bigint"
};

store_code pgs_get_image(store *base, const char *id, store_image which,
                         void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    PGresult *r;
    store_code rc = pgs_by_id((pgs_store *)base, which == STORE_IMAGE_PATCH ?
                              &st_patch : &st_overview, id, 1, &r);
    if (rc == STORE_ERR)
        return rc;
    if (rc == STORE_NOTFOUND || PQgetisnull(r, 0, 0)) {
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
    return pgs_one_int((pgs_store *)base, &st_count, "counting reads", n);
}

static const char *const pgs_seen_sql[3] = {
    " ORDER BY time_ms, id LIMIT 1",
    " ORDER BY time_ms DESC, id DESC LIMIT 1",
    "",
};

store_code pgs_first_last_seen(store *base, const char *vrm, int64_t from_ms,
                               int64_t to_ms, store_read *first,
                               store_read *last, int64_t *count)
{
    pgs_store *s = (pgs_store *)base;
    pgs_num from, to;
    PGresult *r[3] = {NULL, NULL, NULL};
    pgs_sql *w = calloc(1, sizeof *w);
    pgs_conn *c = w ? pgs_get(s) : NULL;
    if (!c) {
        if (!w)
            store_set_error("out of memory");
        free(w);
        return STORE_ERR;
    }
    /* One snapshot for the days and all three answers, so they agree. */
    store_code rc = pgs_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                            "first and last seen");
    PGresult *days = rc == STORE_OK ? pgs_days_for(c, STORE_MATCH_EXACT, vrm, NULL,
                                                   from_ms, to_ms) : NULL;
    if (rc == STORE_OK && !days)
        rc = STORE_ERR;
    for (int k = 0; k < 3 && rc == STORE_OK && PQntuples(days); k++) {
        w->len = 0;
        w->n = 0;
        pgs_sql_add(w, k == 2 ? "SELECT count(*)" : "SELECT " PGS_READ_COLS);
        pgs_sql_param(w, " FROM reads WHERE vrm = $%d", vrm);
        pgs_sql_param(w, " AND time_ms >= $%d::bigint",
                      pgs_i64(&from, from_ms ? from_ms : INT64_MIN));
        pgs_sql_param(w, " AND time_ms <= $%d::bigint",
                      pgs_i64(&to, to_ms ? to_ms : INT64_MAX));
        pgs_sql_days(w, days, 0, PQntuples(days));
        pgs_sql_add(w, "%s", pgs_seen_sql[k]);
        if (!(r[k] = pgs_run_sql(c, w->text, w->n, w->vals, "first and last seen",
                                 NULL)))
            rc = STORE_ERR;
    }
    rc = pgs_end(c, rc);
    pgs_put(s, c);
    if (rc == STORE_OK && (!r[0] || !PQntuples(r[0]))) {
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
    PQclear(days);
    free(w);
    return rc;
}
