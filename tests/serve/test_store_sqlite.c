/*
 * test_store_sqlite.c: what the SQLite engine does on its own, below the
 * API that test_api drives: the alert hook (told of each commit that stored
 * alerts, once, after it is durable, and of nothing else), and the
 * checkpointer starting the WAL afresh while one writer never pauses, so
 * the WAL cannot grow for ever under steady ingest; and migration 3, which
 * leaves reads_key the only index on a read's plate, keeping exact and
 * pattern searches exact.
 */
#include "store_sqlite.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "store_fixture.h"





static int newest_alert(void *ctx, const store_alert *a)
{
    *(int64_t *)ctx = a->id;
    return 1;
}

static void test_alert_hook(store *s)
{
    store_hotlist h = {.name = "watch", .priority = 1, .created_ms = 1};
    REQUIRE(s->ops->put_hotlist(s, &h) == STORE_OK);
    store_entry e = {.vrm = "HOT1", .reason = "wanted", .priority = 3};
    int64_t eid;
    REQUIRE(s->ops->add_entries(s, "watch", &e, 1, &eid) == STORE_OK);
    store_hit hit = {.entry_id = eid, .hotlist = "watch", .entry_vrm = "HOT1",
                     .match = STORE_MATCH_EXACT, .priority = 3, .reason = "wanted"};
    hooked k = {0};
    store_set_alert_hook(s, on_committed, &k);

    /* A batch without hits tells it nothing. */
    store_read r = mkread("plain-1", "AB12CDE", "CAM-1", T0);
    store_insert st;
    REQUIRE(s->ops->insert_reads(s, &r, 1, &st) == STORE_OK);
    CHECK(k.calls == 0);

    /* One with a hit: once, with the id the table now holds. */
    r = mkread("hot-1", "HOT1", "CAM-1", T0 + 1000);
    r.hits = &hit;
    r.n_hits = 1;
    REQUIRE(s->ops->insert_reads(s, &r, 1, &st) == STORE_OK && st == STORE_INSERTED);
    int64_t stored = 0;
    store_alert_query q = {.limit = 1};
    CHECK(s->ops->list_alerts(s, &q, newest_alert, &stored) == STORE_OK);
    CHECK(k.calls == 1 && stored > 0 && k.last == stored, "calls %d last %lld stored %lld",
          k.calls, (long long)k.last, (long long)stored);

    /* The same read again is a duplicate and makes no alert. */
    REQUIRE(s->ops->insert_reads(s, &r, 1, &st) == STORE_OK && st == STORE_DUPLICATE);
    CHECK(k.calls == 1);

    /* create_alert: a conflict tells nothing, a new alert its id. */
    store_alert al = {.read_id = "hot-1", .hit = hit, .vrm = "HOT1", .camera = "CAM-1",
                      .time_ms = T0 + 1000, .created_ms = 7};
    int64_t id;
    CHECK(s->ops->create_alert(s, &al, &id) == STORE_CONFLICT && k.calls == 1);
    snprintf(al.read_id, sizeof al.read_id, "manual-1");
    CHECK(s->ops->create_alert(s, &al, &id) == STORE_OK && id > stored);
    CHECK(k.calls == 2 && k.last == id);

    store_set_alert_hook(s, NULL, NULL);
    r = mkread("hot-2", "HOT1", "CAM-1", T0 + 2000);
    r.hits = &hit;
    r.n_hits = 1;
    REQUIRE(s->ops->insert_reads(s, &r, 1, &st) == STORE_OK);
    CHECK(k.calls == 2);
}

/* The WAL's length in frames after the last commit. */
static int wal_frames(sq_store *s)
{
    pthread_mutex_lock(&s->alock);
    int n = s->wal_frames;
    pthread_mutex_unlock(&s->alock);
    return n;
}

static void test_wal_restarts(store *base)
{
    sq_store *s = (sq_store *)base;
    enum { BATCH = 100 };
    store_read r[BATCH];
    store_insert st[BATCH];
    uint64_t x = 88172645463325252ULL;
    int longest = 0, restarted = 0;
    long long n = 0;
    time_t give_up = time(NULL) + 120;
    /* Random VRMs dirty pages all over the indexes, so the WAL grows fast;
     * batches follow each other without a pause, so a checkpoint pass
     * rarely finds the writer idle and the checkpointer must hold it off
     * (once the WAL is a quarter to a half of its 65,536-frame limit). A
     * restart shows as the WAL's length falling. */
    while (!restarted && time(NULL) < give_up) {
        for (int i = 0; i < BATCH; i++, n++) {
            char id[32], vrm[8];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            snprintf(id, sizeof id, "w%lld", n);
            snprintf(vrm, sizeof vrm, "W%06llu", (unsigned long long)(x % 1000000));
            r[i] = mkread(id, vrm, "CAM-1", T0 + n);
        }
        REQUIRE(base->ops->insert_reads(base, r, BATCH, st) == STORE_OK);
        int f = wal_frames(s);
        restarted = f < longest;
        if (f > longest)
            longest = f;
    }
    CHECK(restarted, "the WAL reached %d frames in %lld reads and never started afresh",
          longest, n);
    int64_t count;
    CHECK(base->ops->count_reads(base, &count) == STORE_OK && count == n + 3,
          "%lld reads stored of %lld", (long long)count, n + 3);
}

static int count_cb(void *ctx, const store_read *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int search_count(store *s, store_match m, const char *vrm)
{
    store_query q = {.match = m, .vrm = vrm, .limit = 100};
    int n = 0;
    REQUIRE(s->ops->search_reads(s, &q, count_cb, &n) == STORE_OK);
    return n;
}

/* A store made at schema version 2 (reads_vrm still there) is migrated, and
 * plates that share a lookalike key stay apart in exact and pattern
 * searches and first/last seen. */
static void test_plate_index(const char *path)
{
    store *s;
    REQUIRE(store_open(path, &s) == STORE_OK);
    static const char *const plates[] = {"AB12CDE", "A812CDE", "AB12CDF", "AB12CDE"};
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        store_read r = mkread(id, plates[i], "CAM-1", T0 + i * 1000);
        store_insert st;
        REQUIRE(s->ops->insert_reads(s, &r, 1, &st) == STORE_OK);
    }
    s->ops->close(s);

    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE INDEX reads_vrm ON reads(vrm, time_ms);"
                         "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
                         NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    REQUIRE(store_open(path, &s) == STORE_OK);
    int v = 0;
    CHECK(s->ops->schema_version(s, &v) == STORE_OK && v == 3, "version %d", v);
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'reads_vrm'",
                               -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    CHECK(search_count(s, STORE_MATCH_EXACT, "AB12CDE") == 2);
    CHECK(search_count(s, STORE_MATCH_EXACT, "A812CDE") == 1);
    CHECK(search_count(s, STORE_MATCH_PATTERN, "AB12*") == 3);
    CHECK(search_count(s, STORE_MATCH_PATTERN, "A?12CDE") == 3);
    CHECK(search_count(s, STORE_MATCH_PATTERN, "*CDF") == 1);
    char key[16];
    valid_key("AB12CDE", key);
    CHECK(search_count(s, STORE_MATCH_FUZZY, key) == 3);

    store_read first, last;
    int64_t n = 0;
    CHECK(s->ops->first_last_seen(s, "AB12CDE", 0, 0, &first, &last, &n) == STORE_OK &&
          n == 2 && !strcmp(first.id, "p0") && !strcmp(last.id, "p3"),
          "count %lld", (long long)n);
    CHECK(s->ops->first_last_seen(s, "A812CDE", 0, 0, &first, &last, &n) == STORE_OK &&
          n == 1 && !strcmp(first.id, "p1"));
    s->ops->close(s);
}

int main(void)
{
    char dir[] = "/tmp/anpr-sqtest.XXXXXX", path[64];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    store *s;
    REQUIRE(store_open(path, &s) == STORE_OK);
    test_alert_hook(s);
    test_wal_restarts(s);
    s->ops->close(s);
    snprintf(path, sizeof path, "%s/v2.db", dir);
    test_plate_index(path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
