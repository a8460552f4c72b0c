/*
 * serve_pg.c: the PostgreSQL store engine's speed, straight through
 * store.h (no HTTP): ingest in batches and search latency as the table
 * grows.
 *
 *   tests/serve/with_postgres.sh build/tests/serve/serve_pg \
 *       [--reads N] [--clients C] [--days D] [--queries Q]
 *
 * (ANPR_TEST_PG_URL names the database; with_postgres.sh gives a fresh one;
 * for a big run add ANPR_PG_OPTS="-c shared_buffers=2GB".)
 *
 * Reads are synthetic: N reads of N/20 vehicles (GB-style VRMs) at 500
 * cameras, in time order over D days (so D day partitions), without images.
 * C client threads each send batches of 100, as `anpr serve` does with the
 * reads of one POST. The baseline, measured in the same run, is one read
 * per call (one transaction per read).
 *
 * Run again on the same database (same options) to time searches alone,
 * with a warm cache; that also works after a run was cut short.
 *
 * Growth happens in stages (N/100, N/10, N); after each stage Q searches of
 * each kind run from one thread (exact VRM, prefix pattern "AB12*", fuzzy
 * key), each for one vehicle seen so far, newest first, at most 100 rows;
 * medians and 99th percentiles of their latency are printed.
 */
#include "store.h"
#include "valid.h"
#include "bench.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 100
#define DAY_MS 86400000LL
#define T_START 1795478400000LL   /* 2026-11-24T00:00:00Z */

static long long n_reads = 1000000;
static int n_clients = 2;
static int n_days = 30;
static int n_queries = 1000;
static store *st;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A stable, well-spread VRM for vehicle v: two letters, two digits, three
 * letters. */
static void vrm_of(long long v, char out[STORE_VRM_MAX])
{
    unsigned long long h = (unsigned long long)v * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    char *p = out;
    for (int i = 0; i < 7; i++) {
        int digit = i == 2 || i == 3;
        *p++ = digit ? (char)('0' + h % 10) : (char)('A' + h % 26);
        h /= digit ? 10 : 26;
    }
    *p = 0;
}

/* Read n of the run: vehicle, camera and time follow from n. */
static void make_read(long long n, store_read *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "b-%lld", n);
    long long v = (long long)((unsigned long long)n * 2654435761u % (unsigned long long)(n_reads / 20 + 1));
    vrm_of(v, r->vrm);
    valid_key(r->vrm, r->vrm_key);
    snprintf(r->camera, sizeof r->camera, "CAM-%03lld", n % 500);
    r->time_ms = T_START + n * (n_days * DAY_MS / n_reads);
    r->confidence = 0.95;
    r->lane = 1;
    r->received_ms = r->time_ms + 100;
    snprintf(r->direction, sizeof r->direction, "north");
}

/* One client: batches first, first + stride, ... of reads [.., to). */
typedef struct job {
    pthread_t t;
    long long first, stride, to;
    int batch;
    int failed;
} job;

static void *ingest_main(void *arg)
{
    job *j = arg;
    store_read r[BATCH];
    store_insert status[BATCH];
    for (long long b = j->first; b < j->to && !j->failed; b += j->stride) {
        int k = 0;
        for (long long n = b; k < j->batch && n < j->to; k++, n++)
            make_read(n, &r[k]);
        if (st->ops->insert_reads(st, r, (size_t)k, status) != STORE_OK) {
            fprintf(stderr, "insert: %s\n", store_error());
            j->failed = 1;
        }
    }
    return NULL;
}

/* Stores reads [from, to) with `clients` threads; returns reads/s. */
static double ingest(long long from, long long to, int clients, int batch)
{
    job jobs[64];
    double t0 = now_s();
    for (int c = 0; c < clients; c++) {
        /* Clients take batches in turn, so all of them write the same
         * stretch of time at once, as live cameras do. */
        jobs[c] = (job){.first = from + (long long)c * batch,
                        .stride = (long long)clients * batch, .to = to,
                        .batch = batch};
        pthread_create(&jobs[c].t, NULL, ingest_main, &jobs[c]);
    }
    int failed = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(jobs[c].t, NULL);
        failed |= jobs[c].failed;
    }
    if (failed)
        exit(1);
    return (double)(to - from) / (now_s() - t0);
}

static int count_row(void *ctx, const store_read *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

/* Fresh planner statistics, as autovacuum would have made by the time a
 * day's partition is searched; a bulk load outruns it. */
static void analyze(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *r = PQexec(pg, "ANALYZE reads");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "serve_pg: ANALYZE: %s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

/* Q searches of one kind over vehicles of reads [0, stored); prints the
 * median and p99 in ms and the mean rows found. */
static void search_latency(const char *label, store_match m, long long stored)
{
    double *ms = malloc((size_t)n_queries * sizeof *ms);
    long long rows = 0;
    unsigned long long seed = 12345;
    for (int q = 0; q < n_queries; q++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        store_read r;
        make_read((long long)((seed >> 17) % (unsigned long long)stored), &r);
        char key[STORE_VRM_MAX];
        store_query query = {.match = m, .limit = 100};
        if (m == STORE_MATCH_EXACT) {
            query.vrm = r.vrm;
        } else if (m == STORE_MATCH_PATTERN) {
            snprintf(key, sizeof key, "%.4s*", r.vrm);
            query.vrm = key;
        } else {
            query.vrm = r.vrm_key;
        }
        int found = 0;
        double t0 = now_s();
        if (st->ops->search_reads(st, &query, count_row, &found) != STORE_OK) {
            fprintf(stderr, "search: %s\n", store_error());
            exit(1);
        }
        ms[q] = (now_s() - t0) * 1000;
        rows += found;
    }
    qsort(ms, (size_t)n_queries, sizeof *ms, bench_cmp_double);
    printf("  search %-8s median %7.3f ms  p99 %7.3f ms  (%.1f rows each)\n",
           label, ms[n_queries / 2], ms[n_queries * 99 / 100],
           (double)rows / n_queries);
    free(ms);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reads"))
            n_reads = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients"))
            n_clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--days"))
            n_days = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries"))
            n_queries = atoi(argv[i + 1]);
        else
            break;
    }
    if (argc % 2 == 0 || n_reads < 10000 || n_clients < 1 || n_clients > 64 ||
        n_days < 1 || n_queries < 100) {
        fprintf(stderr, "usage: serve_pg [--reads N>=10000] [--clients 1..64]"
                        " [--days D] [--queries Q>=100]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);   /* figures as they come, into a log */
    const char *url = getenv("ANPR_TEST_PG_URL");
    if (!url) {
        fprintf(stderr, "serve_pg: set ANPR_TEST_PG_URL (or run under"
                        " tests/serve/with_postgres.sh)\n");
        return 2;
    }
    if (store_open(url, &st) != STORE_OK) {
        fprintf(stderr, "serve_pg: %s\n", store_error());
        return 1;
    }
    printf("PostgreSQL store: %lld reads, %d clients, batches of %d,"
           " %d days\n", n_reads, n_clients, BATCH, n_days);

    /* A database holding reads of a run with these options already (an
     * earlier run, or one cut short: clients take batches in turn, so
     * that is nearly reads [0, count)) is only searched, with the
     * statistics autovacuum or the earlier run left. */
    int64_t count = 0;
    if (st->ops->count_reads(st, &count) != STORE_OK) {
        fprintf(stderr, "serve_pg: %s\n", store_error());
        return 1;
    }
    if (count) {
        printf("%lld stored already: searching only\n", (long long)count);
        search_latency("exact", STORE_MATCH_EXACT, count);
        search_latency("prefix", STORE_MATCH_PATTERN, count);
        search_latency("fuzzy", STORE_MATCH_FUZZY, count);
        st->ops->close(st);
        return 0;
    }

    /* The baseline: one read per transaction. Its reads are the first
     * ones of the run, so nothing is stored twice. */
    long long base_n = 2000;
    double base = ingest(0, base_n, n_clients, 1);
    printf("baseline  1 read per call: %9.0f reads/s\n", base);

    long long stages[3] = {n_reads / 100, n_reads / 10, n_reads};
    long long done = base_n;
    for (int s = 0; s < 3; s++) {
        if (stages[s] <= done)
            continue;
        double rate = ingest(done, stages[s], n_clients, BATCH);
        done = stages[s];
        printf("%lld stored: ingest %9.0f reads/s (%.1fx baseline)\n", done,
               rate, rate / base);
        analyze(url);
        search_latency("exact", STORE_MATCH_EXACT, done);
        search_latency("prefix", STORE_MATCH_PATTERN, done);
        search_latency("fuzzy", STORE_MATCH_FUZZY, done);
    }
    if (st->ops->count_reads(st, &count) != STORE_OK || count != n_reads) {
        fprintf(stderr, "serve_pg: %lld reads stored, expected %lld\n",
                (long long)count, n_reads);
        return 1;
    }
    st->ops->close(st);
    return 0;
}
