/*
 * serve_perf.c: how fast the back office is. Prints figures; asserts
 * nothing.
 *
 *   build-srv/tests/serve/serve_perf PATH/TO/anpr [--sizes 100000,1000000]
 *       [--db URL] [--http-reads N] [--threads N] [--entries N]
 *
 * Measures, in order:
 *  1. ingest straight into the store (store_ops.insert_reads, batches of
 *     100), reads per second;
 *  2. ingest over HTTP into a running `anpr serve` (batches of 100 from
 *     several client threads, each batch a JSON POST answered after
 *     commit), reads per second, against the UK national average of
 *     about 580 reads/s;
 *  3. search latency (median, p99) for exact, pattern and fuzzy VRMs as
 *     the store grows through --sizes (store level, newest 100 first);
 *  4. hotlist matching with --entries (default one million) entries:
 *     microseconds per read, exact and fuzzy lists;
 *  5. read-to-alert latency on the event stream while reads arrive at
 *     5,000 per second, 1% of them on a hotlist: from the POST carrying
 *     the read being sent to its event arriving; with, to show where the
 *     time goes, when the POST was answered (the read durable), and the
 *     latency counted from when the read was due instead (one sender
 *     posts in turn, so after a slow answer it sends late and catches up:
 *     the reads it held back waited too).
 * The store is SQLite in a temporary folder unless --db names one (a
 * PostgreSQL URL must be an empty database, and the HTTP parts use it
 * too; a SQLite file is kept, and a later run with it searches the reads
 * already there instead of loading them again). Run from a Release build;
 * the machine's other work shows in the figures.
 */
#include "httpc.h"
#include "matcher.h"
#include "store.h"
#include "valid.h"
#include "when.h"
#include "bench.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process: on a shared machine, wall time measures the
 * other tenants as much as the code, so single-process figures are given
 * per CPU-second too. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A deterministic generator, so every run makes the same plates. */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A GB current-style VRM: two letters, two digits, three letters. */
static void random_vrm(char out[8])
{
    static const char L[] = "ABCDEFGHJKLMNOPRSTUVWXY";
    for (int i = 0; i < 7; i++)
        out[i] = i == 2 || i == 3 ? (char)('0' + rng() % 10) : L[rng() % (sizeof L - 1)];
    out[7] = 0;
}

/* Sorts v and reports its median and 99th percentile. */
static void percentiles(double *v, int n, double *p50, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    *p50 = v[n / 2];
    *p99 = v[(int)(n * 0.99)];
}

/* Inserts n synthetic reads (ids from first) in batches of 100; returns
 * seconds taken, and CPU-seconds in *cpu. VRMs are remembered in vrms
 * (when not NULL). With st NULL it inserts nothing: the same plates are
 * made again for a store an earlier run filled. */
static double fill_store(store *st, long long first, long long n, char (*vrms)[8],
                         double *cpu)
{
    store_read batch[100];
    store_insert status[100];
    memset(batch, 0, sizeof batch);
    int64_t t0 = when_now_ms() - 30LL * 86400 * 1000;
    double start = now_s(), cpu0 = cpu_s();
    for (long long done = 0; done < n;) {
        int k = n - done < 100 ? (int)(n - done) : 100;
        for (int i = 0; i < k; i++) {
            store_read *r = &batch[i];
            long long id = first + done + i;
            snprintf(r->id, sizeof r->id, "b%lld", id);
            random_vrm(r->vrm);
            if (vrms)
                memcpy(vrms[done + i], r->vrm, 8);
            valid_key(r->vrm, r->vrm_key);
            r->confidence = 0.9;
            snprintf(r->camera, sizeof r->camera, "CAM-%d", (int)(rng() % 50));
            r->time_ms = t0 + id * 50;  /* 20 reads a second, in order */
            r->received_ms = r->time_ms;
        }
        if (st && st->ops->insert_reads(st, batch, (size_t)k, status) != STORE_OK) {
            fprintf(stderr, "insert: %s\n", store_error());
            exit(1);
        }
        done += k;
    }
    *cpu = cpu_s() - cpu0;
    return now_s() - start;
}

static int count_cb(void *ctx, const store_read *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

/* Times `queries` searches of one kind for plates among the first n
 * made, in a store of size reads; prints median and p99. */
static void time_searches(store *st, const char *kind, store_match m,
                          char (*vrms)[8], long long n, long long size, int queries)
{
    double *lat = malloc((size_t)queries * sizeof *lat);
    long long rows = 0;
    for (int q = 0; q < queries; q++) {
        char v[16], key[16];
        memcpy(v, vrms[rng() % (uint64_t)n], 8);
        store_query sq = { .match = m, .vrm = v, .limit = 100 };
        if (m == STORE_MATCH_PATTERN) {
            v[4] = '*';        /* AB12* : everything in one area and year */
            v[5] = 0;
        } else if (m == STORE_MATCH_FUZZY) {
            valid_key(v, key);
            sq.vrm = key;
        }
        int got = 0;
        double t = now_s();
        if (st->ops->search_reads(st, &sq, count_cb, &got) != STORE_OK) {
            fprintf(stderr, "search: %s\n", store_error());
            exit(1);
        }
        lat[q] = (now_s() - t) * 1e3;
        rows += got;
    }
    double p50, p99;
    percentiles(lat, queries, &p50, &p99);
    printf("  %-8s %10lld reads  median %7.3f ms  p99 %7.3f ms  (%.1f rows/query)\n",
           kind, size, p50, p99, (double)rows / queries);
    free(lat);
}

/* --- a server to talk to --- */

static pid_t server_pid;
static char base[64], token[128], tmpdir[256];

static int start_server(const char *anpr, const char *db)
{
    char out[512], tok[512];
    snprintf(out, sizeof out, "%s/serve.out", tmpdir);
    snprintf(tok, sizeof tok, "%s/token", tmpdir);
    fflush(stdout); /* or the child repeats what is buffered */
    if (!(server_pid = fork())) {
        if (!freopen(out, "w", stdout))
            _exit(127);
        execl(anpr, "anpr", "serve", "--db", db, "--listen", "127.0.0.1:0", "--token-file",
              tok, "--max-batch", "1000", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        struct timespec ts = { 0, 50000000L };
        nanosleep(&ts, NULL);
        FILE *f = fopen(out, "r");
        char line[256];
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "http://127.0.0.1:");
            if (p && strstr(line, "listening")) {
                /* "http://127.0.0.1:PORT/api/v1/" -> "http://127.0.0.1:PORT" */
                snprintf(base, sizeof base, "%.*s", (int)(7 + strcspn(p + 7, "/\n")), p);
                fclose(f);
                f = fopen(tok, "r");
                if (!f || !fgets(token, sizeof token, f))
                    return -1;
                token[strcspn(token, "\n")] = 0;
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
    }
    return -1;
}

/* CPU-seconds the server process has used (user + system). */
static double server_cpu_s(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server_pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    /* Fields 14 and 15, counted after the ")" that ends the name. */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int api(const char *method, const char *path, const char *body)
{
    httpc_resp r;
    char err[256];
    if (httpc_request(base, path, method, token, "application/json", body,
                      body ? strlen(body) : 0, 30000, &r, err, sizeof err)) {
        fprintf(stderr, "%s %s: %s\n", method, path, err);
        return -1;
    }
    int st = r.status;
    free(r.body);
    return st;
}

/* --- 2: ingest over HTTP --- */

typedef struct poster {
    int id;
    long long reads;
    double busy;
} poster;

static long long http_reads_each;

static void *post_thread(void *arg)
{
    poster *p = arg;
    char *body = malloc(100 * 200 + 64), t[32];
    when_format(when_now_ms() - 1000, t);
    for (long long b = 0; b * 100 < http_reads_each; b++) {
        size_t n = (size_t)sprintf(body, "{\"reads\":[");
        for (int i = 0; i < 100; i++) {
            char v[8];
            random_vrm(v);
            n += (size_t)sprintf(body + n, "%s{\"id\":\"h%d-%lld-%d\",\"vrm\":\"%s\","
                                 "\"confidence\":0.9,\"camera\":\"CAM-%d\",\"time\":\"%s\","
                                 "\"lane\":1,\"direction\":\"north\"}",
                                 i ? "," : "", p->id, b, i, v, i % 50, t);
        }
        strcpy(body + n, "]}");
        if (api("POST", "/api/v1/reads", body) != 200) {
            fprintf(stderr, "HTTP ingest failed\n");
            break;
        }
        p->reads += 100;
    }
    free(body);
    return NULL;
}

static void bench_http_ingest(int threads)
{
    pthread_t t[64];
    poster p[64];
    double start = now_s(), cpu0 = server_cpu_s();
    for (int i = 0; i < threads; i++) {
        p[i] = (poster){ .id = i };
        pthread_create(&t[i], NULL, post_thread, &p[i]);
    }
    long long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += p[i].reads;
    }
    double s = now_s() - start, cpu = server_cpu_s() - cpu0;
    printf("HTTP ingest: %lld reads, %d clients, batches of 100: %.0f reads/s"
           " (%.0f x the UK average of 580/s); %.0f reads per server CPU-second\n",
           total, threads, total / s, total / s / 580, cpu > 0 ? total / cpu : 0);
}

/* --- 5: read-to-alert latency --- */

#define ALERT_READS 1000
static double due_at[ALERT_READS], sent_at[ALERT_READS], answered_at[ALERT_READS],
    got_at[ALERT_READS];
static volatile int stream_open;

static int on_event(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    static char line[8192];
    static size_t len;
    stream_open = 1;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (len + 1 < sizeof line)
                line[len++] = data[i];
            continue;
        }
        line[len] = 0;
        char *p = strstr(line, "\"read_id\":\"al");
        if (p) {
            int k = atoi(p + 13);
            if (k >= 0 && k < ALERT_READS && !got_at[k])
                got_at[k] = now_s();
        }
        len = 0;
    }
    return 0;
}

static void *stream_thread(void *arg)
{
    (void)arg;
    char err[256];
    int status;
    httpc_stream(base, "/api/v1/alerts/stream", token, 0, &status, on_event, NULL, err,
                 sizeof err);
    return NULL;
}

static void bench_alert_latency(void)
{
    /* 100 entries on a list; 1% of reads at 5,000/s carry one of them. */
    api("PUT", "/api/v1/hotlists/bench", "{\"priority\":1}");
    char csv[4096] = "", *p = csv;
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "ZZ%02dHOT,bench\n", i);
    httpc_resp r;
    char err[256];
    httpc_request(base, "/api/v1/hotlists/bench/import", "POST", token, "text/csv", csv,
                  strlen(csv), 30000, &r, err, sizeof err);
    free(r.body);
    pthread_t t;
    pthread_create(&t, NULL, stream_thread, NULL);
    for (int i = 0; !stream_open; i++) {
        struct timespec ts = { 0, 10000000L };
        nanosleep(&ts, NULL);
        if (i == 500) {
            fprintf(stderr, "the alert stream did not open\n");
            return;
        }
    }
    /* Batches of 50 every 10 ms: 5,000 reads/s, one hit per two batches. */
    char *body = malloc(50 * 200 + 64), tm[32];
    int hits = 0;
    double start = now_s();
    for (int b = 0; hits < ALERT_READS; b++) {
        when_format(when_now_ms(), tm);
        size_t n = (size_t)sprintf(body, "{\"reads\":[");
        int hit = b % 2 == 0 ? hits++ : -1;
        for (int i = 0; i < 50; i++) {
            char v[8];
            random_vrm(v);
            if (i == 0 && hit >= 0)
                n += (size_t)sprintf(body + n, "{\"id\":\"al%d\",\"vrm\":\"ZZ%02dHOT\","
                                     "\"camera\":\"CAM-1\",\"time\":\"%s\"}", hit, hit % 100, tm);
            else
                n += (size_t)sprintf(body + n, "%s{\"id\":\"lt%d-%d\",\"vrm\":\"%s\","
                                     "\"camera\":\"CAM-2\",\"time\":\"%s\"}",
                                     i ? "," : "", b, i, v, tm);
        }
        strcpy(body + n, "]}");
        if (hit >= 0) {
            due_at[hit] = start + b * 0.010;
            sent_at[hit] = now_s();
        }
        api("POST", "/api/v1/reads", body);
        if (hit >= 0)
            answered_at[hit] = now_s();
        double next = start + (b + 1) * 0.010;
        double wait = next - now_s();
        if (wait > 0) {
            struct timespec ts = { 0, (long)(wait * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    double rate = (double)(ALERT_READS * 2 * 50) / (now_s() - start);
    struct timespec ts = { 1, 0 };
    nanosleep(&ts, &ts);
    static double lat[3][ALERT_READS];
    int n = 0, lost = 0;
    for (int i = 0; i < ALERT_READS; i++) {
        if (!got_at[i]) {
            lost++;
            continue;
        }
        lat[0][n] = (got_at[i] - sent_at[i]) * 1e3;
        lat[1][n] = (answered_at[i] - sent_at[i]) * 1e3;
        lat[2][n++] = (got_at[i] - due_at[i]) * 1e3;
    }
    double p50[3] = { 0 }, p99[3] = { 0 };
    for (int k = 0; n && k < 3; k++)
        percentiles(lat[k], n, &p50[k], &p99[k]);
    printf("read-to-alert on the stream at %.0f reads/s: median %.2f ms, p99 %.2f ms"
           " (%d alerts, %d missing; from POST sent to event received)\n"
           "  the POST answered: median %.2f ms, p99 %.2f ms; from when the read was due:"
           " median %.2f ms, p99 %.2f ms\n",
           rate, p50[0], p99[0], n, lost, p50[1], p99[1], p50[2], p99[2]);
    free(body);
    pthread_detach(t);
}

/* --- 4: hotlist matching --- */

static void bench_matcher(long long entries)
{
    matcher *m = matcher_new();
    store_hotlist exact = { .name = "exact", .priority = 1, .fuzzy = 0 };
    store_hotlist fuzzy = { .name = "fuzzy", .priority = 1, .fuzzy = 2 };
    matcher_add_hotlist(m, &exact);
    matcher_add_hotlist(m, &fuzzy);
    char (*listed)[8] = malloc((size_t)entries * 8);
    double t = now_s();
    for (int list = 0; list < 2; list++)
        for (long long i = 0; i < entries; i++) {
            store_entry e = { .id = i + 1, .priority = 1 };
            snprintf(e.hotlist, sizeof e.hotlist, "%s", list ? "fuzzy" : "exact");
            random_vrm(e.vrm);
            memcpy(listed[i], e.vrm, 8);
            snprintf(e.reason, sizeof e.reason, "bench");
            matcher_add_entry(m, &e);
        }
    matcher_seal(m);
    printf("hotlist matching: %lld entries on an exact list and %lld on a fuzzy one"
           " (built in %.2f s)\n", entries, entries, now_s() - t);
    int reads = 1000000, hits = 0;
    char (*vrms)[8] = malloc((size_t)reads * 8), (*keys)[16] = malloc((size_t)reads * 16);
    for (int i = 0; i < reads; i++) {
        if (i % 100 == 0) {
            memcpy(vrms[i], listed[rng() % (uint64_t)entries], 8);
            if (vrms[i][2] == '0')
                vrms[i][2] = 'O';     /* a lookalike misread, now and then */
        } else {
            random_vrm(vrms[i]);
        }
        valid_key(vrms[i], keys[i]);
    }
    store_hit h[8];
    int64_t now = when_now_ms();
    t = now_s();
    double c = cpu_s();
    for (int i = 0; i < reads; i++)
        hits += matcher_match(m, vrms[i], keys[i], now, h, 8);
    double s = now_s() - t;
    c = cpu_s() - c;
    printf("  %.3f us per read, %.3f us of CPU (exact and fuzzy lists together, %d hits"
           " in %d reads)\n", s * 1e6 / reads, c * 1e6 / reads, hits, reads);
    /* The key is computed once per read at ingest; its cost, alone: */
    t = now_s();
    c = cpu_s();
    for (int i = 0; i < reads; i++)
        valid_key(vrms[i], keys[i]);
    printf("  %.3f us per read, %.3f us of CPU, to compute the lookalike key\n",
           (now_s() - t) * 1e6 / reads, (cpu_s() - c) * 1e6 / reads);
    matcher_free(m);
    free(listed);
    free(vrms);
    free(keys);
}

int main(int argc, char **argv)
{
    const char *anpr = NULL, *db_url = NULL, *sizes = "100000,1000000";
    long long http_reads = 200000, entries = 1000000;
    int threads = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db_url = argv[++i];
        else if (!strcmp(argv[i], "--http-reads") && i + 1 < argc)
            http_reads = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--entries") && i + 1 < argc)
            entries = atoll(argv[++i]);
        else if (argv[i][0] != '-' && !anpr)
            anpr = argv[i];
        else {
            fprintf(stderr, "usage: serve_perf PATH/TO/anpr [--sizes N,N..] [--db URL]"
                    " [--http-reads N] [--threads N] [--entries N]\n");
            return 2;
        }
    }
    if (!anpr || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: serve_perf PATH/TO/anpr [options]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/anpr-perf.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    char db[512], httpdb[512];
    snprintf(db, sizeof db, "%s/direct.db", tmpdir);
    snprintf(httpdb, sizeof httpdb, "%s/http.db", tmpdir);
    /* The HTTP parts need a store the server makes its first token in: a
     * kept SQLite file has one already, so only PostgreSQL is shared. */
    int shared = db_url && !strncmp(db_url, "postgres", 8);
    if (db_url)
        snprintf(db, sizeof db, "%s", db_url);
    if (shared)
        snprintf(httpdb, sizeof httpdb, "%s", db_url);

    store *st;
    if (store_open(db, &st) != STORE_OK) {
        fprintf(stderr, "%s\n", store_error());
        return 1;
    }
    printf("serve_perf: store %s (%s)\n", db, st->ops->name);

    /* 1 and 3: straight into the store, searching at each size. */
    long long have = 0, max = 0;
    for (const char *s = sizes; *s; s += strcspn(s, ",") + (s[strcspn(s, ",")] == ',')) {
        long long v = atoll(s);
        if (v > max)
            max = v;
    }
    char (*vrms)[8] = malloc((size_t)max * 8);
    /* A store kept from an earlier run (--db FILE) is searched as it is:
     * loading 100 million reads takes most of an hour. */
    int64_t kept = 0;
    if (st->ops->count_reads(st, &kept) != STORE_OK) {
        fprintf(stderr, "%s\n", store_error());
        return 1;
    }
    for (const char *s = sizes; *s; s += strcspn(s, ",") + (s[strcspn(s, ",")] == ',')) {
        long long target = atoll(s);
        if (target <= have)
            continue;
        double cpu;
        long long size = target;
        if (target <= kept) {
            fill_store(NULL, have, target - have, vrms + have, &cpu);
            printf("store ingest: none, the store holds %lld reads already\n",
                   (long long)kept);
            size = kept;   /* searched whole: its size is what the figures show */
        } else {
            double secs = fill_store(st, have, target - have, vrms + have, &cpu);
            /* CPU of this process only: a PostgreSQL server's own is not in it. */
            printf("store ingest: %lld reads in %.1f s: %.0f reads/s, %.0f per CPU-second"
                   " of this process (batches of 100)\n", target - have, secs,
                   (target - have) / secs, (target - have) / cpu);
        }
        have = target;
        printf("search latency at %lld reads (store level, up to 100 rows newest first):\n",
               size);
        time_searches(st, "exact", STORE_MATCH_EXACT, vrms, have, size, 2000);
        time_searches(st, "pattern", STORE_MATCH_PATTERN, vrms, have, size, 200);
        time_searches(st, "fuzzy", STORE_MATCH_FUZZY, vrms, have, size, 2000);
        fflush(stdout);
    }
    st->ops->close(st);
    free(vrms);

    /* 4: matching in memory. */
    bench_matcher(entries);
    fflush(stdout);

    /* 2 and 5: through a real server. */
    if (shared)
        printf("(HTTP parts use the same database)\n");
    if (start_server(anpr, httpdb)) {
        fprintf(stderr, "anpr serve did not start\n");
        return 1;
    }
    for (int c = 0; c < 50; c++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/cameras/CAM-%d", c);
        api("PUT", path, "{\"name\":\"bench\"}");
    }
    http_reads_each = http_reads / threads;
    bench_http_ingest(threads);
    fflush(stdout);
    bench_alert_latency();
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    if (!shared) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd))
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return 0;
}
