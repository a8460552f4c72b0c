/*
 * store_pg_part.c: the day partitions of reads: making them before a batch
 * needs them, and retention, which drops whole days, each in a transaction
 * with its audit record.
 *
 * Each process remembers which days it has seen made, so a batch for known
 * days costs nothing extra; only a new day (typically once a day, or for a
 * late read from long ago) costs a call to anpr_ensure_days(). Should
 * another node drop a day this process still believes in, the insert fails
 * with "no partition" and store_pg_reads.c calls again with forget set.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

int64_t pgs_day(int64_t time_ms)
{
    int64_t d = time_ms / PGS_DAY_MS;
    return (time_ms % PGS_DAY_MS < 0) ? d - 1 : d;
}

/* Index of the first element >= day. */
static size_t pgs_days_find(const pgs_days *d, int64_t day)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->day[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int pgs_days_has(const pgs_days *d, int64_t day)
{
    size_t i = pgs_days_find(d, day);
    return i < d->n && d->day[i] == day;
}

/* Remembers a day (if memory allows: forgetting only costs a call). */
static void pgs_days_add(pgs_days *d, int64_t day)
{
    size_t i = pgs_days_find(d, day);
    if (i < d->n && d->day[i] == day)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        int64_t *p = realloc(d->day, cap * sizeof *p);
        if (!p)
            return;
        d->day = p;
        d->cap = cap;
    }
    memmove(d->day + i + 1, d->day + i, (d->n - i) * sizeof *d->day);
    d->day[i] = day;
    d->n++;
}

static void pgs_days_remove(pgs_days *d, int64_t day)
{
    size_t i = pgs_days_find(d, day);
    if (i < d->n && d->day[i] == day) {
        memmove(d->day + i, d->day + i + 1, (d->n - i - 1) * sizeof *d->day);
        d->n--;
    }
}

static const pgs_stmt st_ensure = {
    "ensure_days", "SELECT anpr_ensure_days($1::bigint[])"
};

store_code pgs_ensure_partitions(pgs_store *s, const store_read *reads,
                                 size_t n, int forget)
{
    pgs_array missing = {0};
    int64_t last = 0;
    int have_last = 0;
    pgs_array_begin(&missing, PGS_OID_INT8);
    pthread_mutex_lock(&s->dlock);
    if (forget)
        s->days.n = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t day = pgs_day(reads[i].time_ms);
        if ((have_last && day == last) || pgs_days_has(&s->days, day))
            continue;
        /* A batch is usually one or two days: skipping repeats of the last
         * one keeps the list short without sorting it. */
        pgs_array_int8(&missing, day);
        last = day;
        have_last = 1;
    }
    pthread_mutex_unlock(&s->dlock);
    if (!missing.count) {
        pgs_array_free(&missing);
        return STORE_OK;
    }
    if (pgs_array_end(&missing)) {
        pgs_array_free(&missing);
        return STORE_ERR;
    }

    store_code rc = STORE_ERR;
    pgs_conn *c = pgs_get(s);
    if (c) {
        const char *vals[1] = {(const char *)missing.p};
        int lens[1] = {(int)missing.n}, fmts[1] = {1};
        PGresult *r = pgs_run(c, &st_ensure, 1, vals, lens, fmts, 0,
                              "making day partitions", NULL);
        if (r) {
            PQclear(r);
            rc = STORE_OK;
        }
        pgs_put(s, c);
    }
    if (rc == STORE_OK) {
        pthread_mutex_lock(&s->dlock);
        for (size_t i = 0; i < n; i++)
            pgs_days_add(&s->days, pgs_day(reads[i].time_ms));
        pthread_mutex_unlock(&s->dlock);
    }
    pgs_array_free(&missing);
    return rc;
}

static const pgs_stmt st_days = {
    "partition_days",
    "SELECT d, relname FROM (SELECT (to_date(substr(c.relname, 7), 'YYYYMMDD')"
    " - date '1970-01-01')::bigint AS d, c.relname FROM pg_inherits i"
    " JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'reads'::regclass) x"
    " WHERE d BETWEEN $1::bigint AND $2::bigint ORDER BY d DESC"
};

PGresult *pgs_partition_days(pgs_conn *c, int64_t lo, int64_t hi)
{
    pgs_num a, b;
    const char *vals[2] = {pgs_i64(&a, lo), pgs_i64(&b, hi)};
    return pgs_run(c, &st_days, 2, vals, NULL, NULL, 0,
                   "listing day partitions", NULL);
}
static const pgs_stmt st_drop_day = {
    "drop_day", "SELECT anpr_drop_day($1::bigint)"
};
/* What is left below the cutoff in the day it falls in (or in a day made
 * again by a late read meanwhile), row by row. */
static const pgs_stmt st_delete_rows = {
    "delete_reads_before",
    "WITH gone AS (DELETE FROM reads WHERE time_ms < $1::bigint RETURNING id),"
    " a AS (DELETE FROM alerts WHERE read_id IN (SELECT id FROM gone)),"
    " i AS (DELETE FROM read_ids WHERE id IN (SELECT id FROM gone))"
    " SELECT count(*) FROM gone"
};

/*
 * Runs st, which deletes reads and answers how many, in a transaction that
 * also appends *a with that count, so the deletion and its record commit
 * together or not at all. Nothing deleted is recorded only when always.
 */
static store_code pgs_delete_audited(pgs_conn *c, const pgs_stmt *st,
                                     int64_t arg, int always, store_audit *a,
                                     const char *what)
{
    pgs_num num;
    const char *vals[1] = {pgs_i64(&num, arg)};
    store_code rc = pgs_cmd(c, "BEGIN", NULL);
    PGresult *r = NULL;
    if (rc == STORE_OK && !(r = pgs_run(c, st, 1, vals, NULL, NULL, 0, what, NULL)))
        rc = STORE_ERR;
    if (r) {
        a->result_count = pgs_get_i64(r, 0, 0);
        PQclear(r);
    }
    if (rc == STORE_OK && (always || a->result_count))
        rc = pgs_audit_insert(c, a);
    return pgs_end(c, rc);
}

store_code pgs_delete_reads_before(store *base, int64_t cutoff_ms,
                                   store_audit *a, int64_t *deleted)
{
    pgs_store *s = (pgs_store *)base;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    *deleted = 0;
    store_code rc = STORE_ERR;
    /* The days wholly before the cutoff. */
    PGresult *days = pgs_partition_days(c, INT32_MIN, pgs_day(cutoff_ms) - 1);
    if (days) {
        rc = STORE_OK;
        /* One transaction per day, so ingest waits for one day at most. */
        for (int i = 0; i < PQntuples(days); i++) {
            int64_t day = pgs_get_i64(days, i, 0);
            rc = pgs_delete_audited(c, &st_drop_day, day, 0, a,
                                    "dropping a day partition");
            if (rc != STORE_OK)
                break;
            *deleted += a->result_count;
            pthread_mutex_lock(&s->dlock);
            pgs_days_remove(&s->days, day);
            pthread_mutex_unlock(&s->dlock);
        }
        PQclear(days);
    }
    if (rc == STORE_OK) {
        rc = pgs_delete_audited(c, &st_delete_rows, cutoff_ms, 1, a,
                                "deleting old reads");
        if (rc == STORE_OK)
            *deleted += a->result_count;
    }
    pgs_put(s, c);
    return rc;
}
