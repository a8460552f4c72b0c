/*
 * test_store_pg.c: the PostgreSQL store engine against a real server, through
 * the store interface only (plus a side connection to look at partitions).
 * Run under tests/serve/with_postgres.sh, which sets ANPR_TEST_PG_URL to a
 * fresh, empty database.
 *
 * Covers: migrations racing from several handles, reads (batch statuses,
 * duplicates within a batch and across batches and handles, images,
 * searches and paging), day partitions made on demand by racing handles
 * and dropped by retention (each drop committed with its audit record,
 * shown by failures injected into the record), hotlists and entries, alerts (ordering, ack,
 * delivery to another handle's wait_alerts via LISTEN/NOTIFY, the alert
 * hook told of each commit that stored alerts), the webhook
 * outbox (each delivery claimed once by racing handles, leases, retries),
 * tokens, the audit chain and the investigations.
 */
#include "store.h"
#include "valid.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "store_fixture.h"



static const char *url;

/* Fills a read; vrm_key from the shared lookalike rule. */

/* Counts rows of SQL on a side connection. */
static long long sql_count(const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *r = PQexec(pg, sql);
    long long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    return n;
}

/* Runs SQL with no result on a side connection; 0 when it ran. */
static int sql_exec(const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    return ok ? 0 : -1;
}

static long long n_partitions(void)
{
    return sql_count("SELECT count(*) FROM pg_inherits"
                     " WHERE inhparent = 'reads'::regclass");
}

/* Partitions for days before T0 + 21 days (day 20802). */
static long long n_partitions_before_day21(void)
{
    return sql_count("SELECT count(*) FROM pg_inherits i JOIN pg_class c"
                     " ON c.oid = i.inhrelid WHERE i.inhparent = 'reads'::regclass"
                     " AND c.relname < anpr_day_table(20802)");
}

/* --- several handles opening (migrating) and inserting at once --- */

typedef struct opener {
    pthread_t t;
    store_code rc;
    int n_inserted;
    int base;
} opener;

static void *open_and_insert(void *arg)
{
    opener *o = arg;
    store *s;
    o->rc = store_open(url, &s);
    if (o->rc != STORE_OK)
        return NULL;
    /* Every thread writes the same 20 IDs over 5 new days (plus a few of
     * its own): partitions race, and each shared ID goes in exactly once. */
    store_read r[25];
    store_insert st[25];
    char id[32];
    for (int i = 0; i < 25; i++) {
        if (i < 20)
            snprintf(id, sizeof id, "race-%d", i);
        else
            snprintf(id, sizeof id, "own-%d-%d", o->base, i);
        r[i] = mkread(id, "RA1CE", "CAM-1", T0 - 40 * DAY + (i % 5) * DAY);
    }
    o->rc = s->ops->insert_reads(s, r, 25, st);
    for (int i = 0; i < 25; i++)
        o->n_inserted += st[i] == STORE_INSERTED;
    s->ops->close(s);
    return NULL;
}

static void test_racing_handles(void)
{
    opener o[4];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 4; i++) {
        o[i].base = i;
        pthread_create(&o[i].t, NULL, open_and_insert, &o[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(o[i].t, NULL);
        CHECK(o[i].rc == STORE_OK);
        total += o[i].n_inserted;
    }
    CHECK(total == 20 + 4 * 5);   /* shared IDs once, own IDs each */
    CHECK(n_partitions() == 5);
    CHECK(sql_count("SELECT count(*) FROM reads") == 40);
}

/* --- reads --- */

typedef struct collect {
    store_read rows[64];
    int n;
    int stop_after;
} collect;

static int collect_read(void *ctx, const store_read *r)
{
    collect *c = ctx;
    if (c->n < 64)
        c->rows[c->n++] = *r;
    return c->stop_after && c->n >= c->stop_after;
}

static collect search(store *s, store_match m, const char *vrm,
                      const char *camera, int64_t from, int64_t to, int limit,
                      int64_t before_ms, const char *before_id)
{
    collect c;
    memset(&c, 0, sizeof c);
    store_query q = {.match = m, .vrm = vrm, .from_ms = from, .to_ms = to,
                     .camera = camera, .limit = limit, .before_ms = before_ms,
                     .before_id = before_id};
    CHECK(s->ops->search_reads(s, &q, collect_read, &c) == STORE_OK);
    return c;
}

static void test_reads(store *s)
{
    static const unsigned char jpeg[] = {0xff, 0xd8, 0x00, 0x01, 0x00, 0xff, 0xd9};
    store_read r[6] = {
        mkread("r1", "AB12CDE", "CAM-1", T0 + 1000),
        mkread("r2", "AB12CDF", "CAM-1", T0 + 2000),
        mkread("r3", "AB12CDE", "CAM-2", T0 + DAY + 3000),   /* next day */
        mkread("r1", "ZZ99ZZZ", "CAM-1", T0 + 4000),         /* repeat in batch */
        mkread("r4", "A812COE", "CAM-2", T0 + 5000),         /* lookalike */
        mkread("r5", "XY51ABC", "CAM-1", T0 + 2000),         /* same time as r2 */
    };
    r[0].patch = jpeg;
    r[0].patch_len = sizeof jpeg;
    store_insert st[6];
    long long parts = n_partitions();
    REQUIRE(s->ops->insert_reads(s, r, 6, st) == STORE_OK);
    CHECK(st[0] == STORE_INSERTED && st[1] == STORE_INSERTED);
    CHECK(st[2] == STORE_INSERTED && st[3] == STORE_DUPLICATE);
    CHECK(st[4] == STORE_INSERTED && st[5] == STORE_INSERTED);
    CHECK(n_partitions() == parts + 2);

    /* The same IDs again, one at a new time: all duplicates, no new day. */
    r[2].time_ms = T0 + 9 * DAY;
    REQUIRE(s->ops->insert_reads(s, r, 3, st) == STORE_OK);
    CHECK(st[0] == STORE_DUPLICATE && st[1] == STORE_DUPLICATE &&
          st[2] == STORE_DUPLICATE);
    int64_t n = 0;
    CHECK(s->ops->count_reads(s, &n) == STORE_OK && n == 40 + 5);

    store_read got;
    CHECK(s->ops->get_read(s, "r1", &got) == STORE_OK);
    CHECK(!strcmp(got.vrm, "AB12CDE") && got.time_ms == T0 + 1000);
    CHECK(got.has_patch && !got.has_overview && got.lane == 1);
    CHECK(!strcmp(got.direction, "north") && got.received_ms == T0 + 1005);
    CHECK(s->ops->get_read(s, "nope", &got) == STORE_NOTFOUND);
    void *img;
    size_t len;
    CHECK(s->ops->get_image(s, "r1", STORE_IMAGE_PATCH, &img, &len) == STORE_OK);
    CHECK(len == sizeof jpeg && !memcmp(img, jpeg, len));
    free(img);
    CHECK(s->ops->get_image(s, "r1", STORE_IMAGE_OVERVIEW, &img, &len) ==
          STORE_NOTFOUND);
    CHECK(s->ops->get_image(s, "nope", STORE_IMAGE_PATCH, &img, &len) ==
          STORE_NOTFOUND);

    /* Exact, newest first. */
    collect c = search(s, STORE_MATCH_EXACT, "AB12CDE", NULL, 0, 0, 10, 0, NULL);
    CHECK(c.n == 2 && !strcmp(c.rows[0].id, "r3") && !strcmp(c.rows[1].id, "r1"));
    /* Pattern: prefix and single-character wildcard. */
    c = search(s, STORE_MATCH_PATTERN, "AB12*", NULL, 0, 0, 10, 0, NULL);
    CHECK(c.n == 3);
    c = search(s, STORE_MATCH_PATTERN, "?B12CD?", NULL, 0, 0, 10, 0, NULL);
    CHECK(c.n == 3);
    c = search(s, STORE_MATCH_PATTERN, "AB12CD", NULL, 0, 0, 10, 0, NULL);
    CHECK(c.n == 0);   /* a pattern without wildcards is not a prefix */
    /* Fuzzy: by key; A812COE is a lookalike of AB12CDE. */
    char key[16];
    valid_key("AB12CDE", key);
    c = search(s, STORE_MATCH_FUZZY, key, NULL, 0, 0, 10, 0, NULL);
    CHECK(c.n == 3 && !strcmp(c.rows[0].id, "r3") && !strcmp(c.rows[1].id, "r4"));
    /* Camera and time bounds (inclusive). */
    c = search(s, STORE_MATCH_EXACT, "AB12CDE", "CAM-2", 0, 0, 10, 0, NULL);
    CHECK(c.n == 1 && !strcmp(c.rows[0].id, "r3"));
    c = search(s, STORE_MATCH_PATTERN, "*", NULL, T0 + 1000, T0 + 2000, 10, 0, NULL);
    CHECK(c.n == 3);
    /* Paging: ties on time broken by ID, descending, with no repeats. */
    c = search(s, STORE_MATCH_PATTERN, "*", NULL, T0, T0 + 2 * DAY, 2, 0, NULL);
    CHECK(c.n == 2 && !strcmp(c.rows[0].id, "r3") && !strcmp(c.rows[1].id, "r4"));
    c = search(s, STORE_MATCH_PATTERN, "*", NULL, T0, T0 + 2 * DAY, 2,
               c.rows[1].time_ms, c.rows[1].id);
    CHECK(c.n == 2 && !strcmp(c.rows[0].id, "r5") && !strcmp(c.rows[1].id, "r2"));
    c = search(s, STORE_MATCH_PATTERN, "*", NULL, T0, T0 + 2 * DAY, 2,
               c.rows[1].time_ms, c.rows[1].id);
    CHECK(c.n == 1 && !strcmp(c.rows[0].id, "r1"));
    /* Any VRM, no bounds: every read. A callback may stop early. */
    c = search(s, STORE_MATCH_EXACT, NULL, NULL, 0, 0, 100, 0, NULL);
    CHECK(c.n == 45);
    c.n = 0;
    c.stop_after = 3;
    store_query q = {.limit = 100};
    CHECK(s->ops->search_reads(s, &q, collect_read, &c) == STORE_OK && c.n == 3);
    /* Hostile text is only ever a value. */
    c = search(s, STORE_MATCH_EXACT, "'; DROP TABLE reads; --", NULL, 0, 0, 10,
               0, NULL);
    CHECK(c.n == 0);
    CHECK(s->ops->count_reads(s, &n) == STORE_OK && n == 45);

    /* First/last seen. */
    store_read first, last;
    CHECK(s->ops->first_last_seen(s, "AB12CDE", 0, 0, &first, &last, &n) == STORE_OK);
    CHECK(!strcmp(first.id, "r1") && !strcmp(last.id, "r3") && n == 2);
    CHECK(s->ops->first_last_seen(s, "AB12CDE", T0 + DAY, 0, &first, &last, &n) ==
          STORE_OK && n == 1);
    CHECK(s->ops->first_last_seen(s, "NEVER1", 0, 0, &first, &last, &n) ==
          STORE_NOTFOUND);
}

/* A VRM seen on more days than one search statement covers: the days are
 * searched in chunks, newest first, and paging runs across them. */
static void test_many_days(store *s)
{
    store_read r[12];
    char id[32];
    for (int i = 0; i < 12; i++) {
        /* Days 40..45 in a row, then every other day from 48 to 58. */
        int day = i < 6 ? 40 + i : 46 + 2 * (i - 5);
        snprintf(id, sizeof id, "many-%02d", i);
        r[i] = mkread(id, "MANY1", "CAM-3", T0 + day * DAY + 1000 * i);
    }
    store_insert st[12];
    REQUIRE(s->ops->insert_reads(s, r, 12, st) == STORE_OK);
    collect c = search(s, STORE_MATCH_EXACT, "MANY1", NULL, 0, 0, 10, 0, NULL);
    int ordered = c.n == 10;
    for (int i = 0; ordered && i < 10; i++)
        ordered = !strcmp(c.rows[i].id, r[11 - i].id);
    CHECK(ordered);
    c = search(s, STORE_MATCH_EXACT, "MANY1", NULL, 0, 0, 10, c.rows[9].time_ms,
               c.rows[9].id);
    CHECK(c.n == 2 && !strcmp(c.rows[0].id, "many-01") &&
          !strcmp(c.rows[1].id, "many-00"));
    c = search(s, STORE_MATCH_PATTERN, "MAN*", "CAM-3", T0 + 44 * DAY,
               T0 + 51 * DAY, 100, 0, NULL);
    CHECK(c.n == 4 && !strcmp(c.rows[0].id, "many-07") &&
          !strcmp(c.rows[3].id, "many-04"));
    char key[16];
    valid_key("MANY1", key);
    c = search(s, STORE_MATCH_FUZZY, key, NULL, 0, T0 + 41 * DAY + 5000, 100, 0,
               NULL);
    CHECK(c.n == 2);
    store_read first, last;
    int64_t n;
    CHECK(s->ops->first_last_seen(s, "MANY1", 0, 0, &first, &last, &n) == STORE_OK);
    CHECK(n == 12 && !strcmp(first.id, "many-00") && !strcmp(last.id, "many-11"));
    CHECK(s->ops->first_last_seen(s, "MANY1", T0 + 42 * DAY, T0 + 53 * DAY, &first,
                                  &last, &n) == STORE_OK);
    CHECK(n == 7 && !strcmp(first.id, "many-02") && !strcmp(last.id, "many-08"));
}

/* --- investigations --- */

static int count_convoy(void *ctx, const store_convoy *c)
{
    store_convoy *out = ctx;
    if (!out->vrm[0])
        *out = *c;
    return 0;
}

static int count_journey(void *ctx, const store_journey *j)
{
    store_journey *out = ctx;
    if (!out->vrm[0])
        *out = *j;
    return 0;
}

static void test_investigations(store *s)
{
    /* TARGET at CAM-A then CAM-B three times; FOLLOW 20 s behind it each
     * time; ALONE once. */
    store_read r[7];
    int n = 0;
    int64_t t = T0 + 3 * DAY;
    char id[32];
    for (int k = 0; k < 3; k++) {
        snprintf(id, sizeof id, "inv-t%d", k);
        r[n++] = mkread(id, "TARGET1", k < 2 ? "CAM-A" : "CAM-B",
                        t + k * 600000);
        snprintf(id, sizeof id, "inv-f%d", k);
        r[n++] = mkread(id, "FOLLOW1", k < 2 ? "CAM-A" : "CAM-B",
                        t + k * 600000 + 20000);
    }
    r[n++] = mkread("inv-a", "ALONE1", "CAM-A", t + 5000000);
    store_insert st[7];
    REQUIRE(s->ops->insert_reads(s, r, (size_t)n, st) == STORE_OK);
    store_convoy cv;
    memset(&cv, 0, sizeof cv);
    CHECK(s->ops->convoy(s, "TARGET1", 0, 0, 60000, 2, 10, count_convoy, &cv) ==
          STORE_OK);
    CHECK(!strcmp(cv.vrm, "FOLLOW1") && cv.count == 3 && cv.cameras == 2);
    memset(&cv, 0, sizeof cv);
    CHECK(s->ops->convoy(s, "TARGET1", 0, 0, 10000, 1, 10, count_convoy, &cv) ==
          STORE_OK && !cv.vrm[0]);
    store_journey j;
    memset(&j, 0, sizeof j);
    CHECK(s->ops->journeys(s, "CAM-A", "CAM-B", "TARGET1", 0, 0, 3600000, 10,
                           count_journey, &j) == STORE_OK);
    CHECK(!strcmp(j.read_a, "inv-t0") && !strcmp(j.read_b, "inv-t2") &&
          j.time_b - j.time_a == 1200000);
}

/* --- cameras, hotlists, entries, tokens, audit --- */

static int count_cb(void *ctx, const void *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}
static int count_camera(void *ctx, const store_camera *c) { return count_cb(ctx, c); }
static int count_entry(void *ctx, const store_entry *e) { return count_cb(ctx, e); }

typedef struct chain {
    char prev[STORE_HASH_HEX];
    int n, ok;
} chain;

static int check_audit(void *ctx, const store_audit *a)
{
    chain *c = ctx;
    char h[STORE_HASH_HEX];
    store_audit_hash(a, a->prev_hash, h);
    c->ok &= !strcmp(a->prev_hash, c->prev) && !strcmp(h, a->hash);
    snprintf(c->prev, sizeof c->prev, "%s", a->hash);
    c->n++;
    return 0;
}

static void test_lists(store *s)
{
    store_camera cam = {.id = "CAM-1", .name = "North gate", .lat = 51.5,
                        .lon = -0.12, .bearing = 90, .owner = "Force",
                        .purpose = "ANPR", .installed_ms = 5, .created_ms = 100};
    CHECK(s->ops->put_camera(s, &cam) == STORE_OK);
    cam.created_ms = 200;
    snprintf(cam.name, sizeof cam.name, "North gate (moved)");
    CHECK(s->ops->put_camera(s, &cam) == STORE_OK);
    store_camera got;
    CHECK(s->ops->get_camera(s, "CAM-1", &got) == STORE_OK);
    CHECK(!strcmp(got.name, "North gate (moved)") && got.created_ms == 100 &&
          got.lat == 51.5 && got.bearing == 90);
    CHECK(s->ops->get_camera(s, "CAM-X", &got) == STORE_NOTFOUND);
    int n = 0;
    CHECK(s->ops->list_cameras(s, count_camera, &n) == STORE_OK && n == 1);

    int64_t g0, g1;
    CHECK(s->ops->hotlist_generation(s, &g0) == STORE_OK);
    store_hotlist h = {.name = "stolen", .priority = 2, .fuzzy = 1,
                       .description = "Stolen vehicles", .created_ms = 1};
    CHECK(s->ops->put_hotlist(s, &h) == STORE_OK);
    store_entry e[3] = {
        {.vrm = "AB12CDE", .reason = "stolen", .priority = 2, .created_ms = 1},
        {.vrm = "XY51*", .is_pattern = 1, .reason = "gang", .priority = 1,
         .created_ms = 1},
        {.vrm = "OLD1", .reason = "expired", .priority = 1, .expires_ms = 50,
         .created_ms = 1},
    };
    int64_t ids[3];
    CHECK(s->ops->add_entries(s, "stolen", e, 3, ids) == STORE_OK);
    CHECK(ids[0] < ids[1] && ids[1] < ids[2]);
    CHECK(s->ops->add_entries(s, "missing", e, 3, ids) == STORE_NOTFOUND);
    CHECK(s->ops->hotlist_generation(s, &g1) == STORE_OK && g1 == g0 + 2);
    n = 0;
    CHECK(s->ops->list_entries(s, "stolen", 0, 100, count_entry, &n) == STORE_OK);
    CHECK(n == 2);
    n = 0;
    CHECK(s->ops->list_entries(s, NULL, 1, 100, count_entry, &n) == STORE_OK);
    CHECK(n == 3);
    CHECK(s->ops->delete_entry(s, "stolen", ids[2]) == STORE_OK);
    CHECK(s->ops->delete_entry(s, "stolen", ids[2]) == STORE_NOTFOUND);
    CHECK(s->ops->delete_hotlist(s, "missing") == STORE_NOTFOUND);

    store_token t = {.hash = "aa", .name = "admin", .role = "admin", .created_ms = 1};
    CHECK(s->ops->add_token(s, &t) == STORE_OK);
    CHECK(s->ops->add_token(s, &t) == STORE_CONFLICT);
    store_token tg;
    CHECK(s->ops->find_token(s, "aa", &tg) == STORE_OK && !strcmp(tg.role, "admin"));
    CHECK(s->ops->find_token(s, "bb", &tg) == STORE_NOTFOUND);
    int64_t nt;
    CHECK(s->ops->count_tokens(s, &nt) == STORE_OK && nt == 1);

    for (int i = 0; i < 3; i++) {
        store_audit a = {.time_ms = 1000 + i, .who = "admin", .action = "search",
                         .purpose = "test", .query = "{\"vrm\":\"AB12CDE\"}",
                         .result_count = i, .result = "[]"};
        CHECK(s->ops->audit_append(s, &a) == STORE_OK && a.id > 0);
    }
    chain c = {.ok = 1};
    snprintf(c.prev, sizeof c.prev, "%064d", 0);
    CHECK(s->ops->audit_list(s, 0, check_audit, &c) == STORE_OK);
    CHECK(c.n == 3 && c.ok);
}

/* --- alerts, across two handles (two nodes) --- */

typedef struct waiter {
    pthread_t t;
    store *s;
    int64_t after;
    int64_t got[8];
    int n;
    store_code rc;
} waiter;

static int collect_alert(void *ctx, const store_alert *a)
{
    waiter *w = ctx;
    if (w->n < 8)
        w->got[w->n++] = a->id;
    return 0;
}

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->rc = w->s->ops->wait_alerts(w->s, w->after, 10000, collect_alert, w);
    return NULL;
}


static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void test_alerts(store *a, store *b)
{
    store_hotlist h = {.name = "watch", .priority = 1, .created_ms = 1};
    REQUIRE(a->ops->put_hotlist(a, &h) == STORE_OK);
    store_entry e = {.vrm = "HOT1", .reason = "wanted", .priority = 3};
    int64_t eid;
    REQUIRE(a->ops->add_entries(a, "watch", &e, 1, &eid) == STORE_OK);
    store_hit hit = {.entry_id = eid, .hotlist = "watch", .entry_vrm = "HOT1",
                     .match = STORE_MATCH_EXACT, .priority = 3,
                     .reason = "wanted"};

    /* Node B waits from the start; with nothing yet it must block. */
    int64_t t0 = now_ms();
    store_code rc = b->ops->wait_alerts(b, 0, 300, collect_alert,
                                        &(waiter){.n = 0});
    CHECK(rc == STORE_OK && now_ms() - t0 >= 250);

    hooked k = {0};
    store_set_alert_hook(a, on_committed, &k);
    waiter w = {.s = b, .after = 0};
    pthread_create(&w.t, NULL, wait_main, &w);
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);      /* let it block first */
    store_read r = mkread("hot-r1", "HOT1", "CAM-1", T0 + 6000);
    r.hits = &hit;
    r.n_hits = 1;
    store_insert st;
    t0 = now_ms();
    REQUIRE(a->ops->insert_reads(a, &r, 1, &st) == STORE_OK);
    CHECK(st == STORE_INSERTED);
    pthread_join(w.t, NULL);
    CHECK(w.rc == STORE_OK && w.n == 1);
    CHECK(now_ms() - t0 < 2000);  /* woken by NOTIFY, not by the timeout */
    /* A's own hook heard of it from the commit, once. */
    CHECK(k.calls == 1 && k.last == w.got[0]);

    /* The same read again: a duplicate, and no second alert. */
    REQUIRE(a->ops->insert_reads(a, &r, 1, &st) == STORE_OK);
    CHECK(st == STORE_DUPLICATE && k.calls == 1);
    store_alert al = {.read_id = "hot-r1", .hit = hit, .vrm = "HOT1",
                      .camera = "CAM-1", .time_ms = T0 + 6000, .created_ms = 7};
    int64_t id2;
    CHECK(a->ops->create_alert(a, &al, &id2) == STORE_CONFLICT && id2 == w.got[0]);
    /* A new alert by create_alert: ids grow, and B sees only the new one. */
    snprintf(al.read_id, sizeof al.read_id, "manual-1");
    CHECK(a->ops->create_alert(a, &al, &id2) == STORE_OK && id2 > w.got[0]);
    CHECK(k.calls == 2 && k.last == id2);
    store_set_alert_hook(a, NULL, NULL);
    waiter w2 = {.s = b};
    CHECK(b->ops->wait_alerts(b, w.got[0], 1000, collect_alert, &w2) == STORE_OK);
    CHECK(w2.n == 1 && w2.got[0] == id2);

    store_alert got;
    CHECK(b->ops->get_alert(b, w.got[0], &got) == STORE_OK);
    CHECK(!strcmp(got.read_id, "hot-r1") && got.hit.entry_id == eid &&
          got.hit.priority == 3 && got.time_ms == T0 + 6000 && !got.ack_ms);
    CHECK(b->ops->ack_alert(b, w.got[0], "officer", "stopped", 99) == STORE_OK);
    CHECK(b->ops->ack_alert(b, w.got[0], "officer", "again", 100) == STORE_CONFLICT);
    CHECK(b->ops->ack_alert(b, 999999, "officer", "none", 100) == STORE_NOTFOUND);
    CHECK(a->ops->get_alert(a, w.got[0], &got) == STORE_OK && got.ack_ms == 99 &&
          !strcmp(got.outcome, "stopped"));
    waiter w3 = {.s = a};
    store_alert_query q = {.unacked_only = 1, .limit = 10};
    CHECK(a->ops->list_alerts(a, &q, collect_alert, &w3) == STORE_OK);
    CHECK(w3.n == 1 && w3.got[0] == id2);
    w3.n = 0;
    q = (store_alert_query){.hotlist = "watch", .limit = 10};
    CHECK(a->ops->list_alerts(a, &q, collect_alert, &w3) == STORE_OK);
    CHECK(w3.n == 2 && w3.got[0] == id2);   /* newest first */
}

/* --- retention --- */

/* A retention record as the sweep makes it (result_count is the store's). */
/* A "node" sending webhooks: claims and delivers until nothing is due. */
#define DL_ALERTS 40
typedef struct sender {
    store *s;
    pthread_t t;
    int claimed[2 * DL_ALERTS + 1];  /* by delivery id, less the first */
    int64_t first;
    int errors;
} sender;

static void *send_main(void *arg)
{
    sender *n = arg;
    store_delivery d;
    store_code rc;
    while ((rc = n->s->ops->claim_delivery(n->s, now_ms(), 60000, &d)) == STORE_OK) {
        int64_t k = d.id - n->first;
        if (k < 0 || k >= 2 * DL_ALERTS || d.attempt != 1
            || n->s->ops->finish_delivery(n->s, &d, now_ms(), 0, NULL) != STORE_OK)
            n->errors++;
        else
            n->claimed[k]++;
    }
    n->errors += rc != STORE_NOTFOUND;
    return NULL;
}

/*
 * The webhook outbox: a new alert brings one pending delivery per URL the
 * handle was given; four senders on two handles (two nodes) claim every
 * delivery exactly once between them; a claim whose lease ran out goes to
 * the next claimer, and the late first claimer's outcome is refused;
 * retries wait for their time; a final failure stays failed.
 */
static void test_deliveries(store *a, store *b)
{
    static char *urls[] = {"http://127.0.0.1:9/a", "http://127.0.0.1:9/b"};
    store_set_webhooks(a, urls, 2);
    store_alert al = {.hit = {.entry_id = 77, .hotlist = "watch",
                              .entry_vrm = "HOT1", .priority = 3},
                      .vrm = "HOT1", .camera = "CAM-1", .time_ms = T0,
                      .created_ms = now_ms()};
    int64_t id;
    for (int i = 0; i < DL_ALERTS; i++) {
        snprintf(al.read_id, sizeof al.read_id, "dl-%d", i);
        REQUIRE(a->ops->create_alert(a, &al, &id) == STORE_OK);
    }
    CHECK(sql_count("SELECT count(*) FROM deliveries WHERE state = 0") == 2 * DL_ALERTS);
    int64_t first = sql_count("SELECT min(id) FROM deliveries");

    sender n[4];
    for (int i = 0; i < 4; i++) {
        memset(&n[i], 0, sizeof n[i]);
        n[i].s = i % 2 ? b : a;
        n[i].first = first;
        pthread_create(&n[i].t, NULL, send_main, &n[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(n[i].t, NULL);
    int once = 1;
    for (int k = 0; k < 2 * DL_ALERTS; k++)
        once &= n[0].claimed[k] + n[1].claimed[k] + n[2].claimed[k]
                + n[3].claimed[k] == 1;
    CHECK(once && !n[0].errors && !n[1].errors && !n[2].errors && !n[3].errors);
    CHECK(sql_count("SELECT count(*) FROM deliveries WHERE state = 1") == 2 * DL_ALERTS);

    /* One delivery, tried by a, whose lease lapses; b takes it over. */
    store_set_webhooks(a, urls, 1);
    snprintf(al.read_id, sizeof al.read_id, "dl-lease");
    REQUIRE(a->ops->create_alert(a, &al, &id) == STORE_OK);
    int64_t t = now_ms();
    store_delivery da, db;
    CHECK(a->ops->claim_delivery(a, t, 1000, &da) == STORE_OK && da.attempt == 1
          && da.alert.id == id && !strcmp(da.url, urls[0])
          && !strcmp(da.alert.read_id, "dl-lease"));
    CHECK(b->ops->claim_delivery(b, t + 999, 1000, &db) == STORE_NOTFOUND);
    CHECK(b->ops->claim_delivery(b, t + 1000, 1000, &db) == STORE_OK
          && db.id == da.id && db.attempt == 2);
    CHECK(a->ops->finish_delivery(a, &da, t + 1500, 0, NULL) == STORE_CONFLICT);
    CHECK(b->ops->finish_delivery(b, &db, t + 1500, t + 5000, "refused") == STORE_OK);
    CHECK(a->ops->claim_delivery(a, t + 4999, 1000, &da) == STORE_NOTFOUND);
    CHECK(a->ops->claim_delivery(a, t + 5000, 1000, &da) == STORE_OK && da.attempt == 3);
    CHECK(a->ops->finish_delivery(a, &da, t + 5500, 0, "refused again") == STORE_OK);
    CHECK(a->ops->claim_delivery(a, t + 999999, 1000, &da) == STORE_NOTFOUND);
    CHECK(sql_count("SELECT count(*) FROM deliveries WHERE state = 2"
                    " AND attempts = 3 AND error = 'refused again'") == 1);
    store_set_webhooks(a, NULL, 0);
}

static store_audit retention_audit(void)
{
    store_audit a = {.time_ms = T0 + 400 * DAY, .who = "anpr serve",
                     .action = "retention", .purpose = "test",
                     .query = "{}", .result = "[]"};
    return a;
}

/* Reads the retention records say went. */
static long long n_recorded(void)
{
    return sql_count("SELECT coalesce(sum(result_count), 0) FROM audit"
                     " WHERE action = 'retention'");
}

/* Lets `allowed` more retention records be appended, then fails every
 * other (an injected failure between a deletion and its record); < 0
 * takes the failure away. */
static int fail_retention_audit(int allowed)
{
    char sql[640];
    if (allowed < 0)
        return sql_exec("DROP TRIGGER fail_retention ON audit;"
                        " DROP FUNCTION fail_retention(); DROP SEQUENCE fail_n");
    /* A sequence counts attempts even in transactions that roll back. */
    snprintf(sql, sizeof sql,
             "CREATE SEQUENCE fail_n;"
             " CREATE FUNCTION fail_retention() RETURNS trigger LANGUAGE plpgsql"
             " AS $$ BEGIN IF nextval('fail_n') > %d THEN"
             " RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;"
             " CREATE TRIGGER fail_retention BEFORE INSERT ON audit FOR EACH ROW"
             " WHEN (NEW.action = 'retention') EXECUTE FUNCTION fail_retention()",
             allowed);
    return sql_exec(sql);
}

static void test_retention(store *s)
{
    /* Two reads on T0+20d (one with an alert), two on T0+21d. */
    store_hit hit = {.entry_id = 1, .hotlist = "watch", .entry_vrm = "RET1"};
    store_read r[4] = {
        mkread("old-1", "RET1", "CAM-1", T0 + 20 * DAY + 1000),
        mkread("old-2", "RET2", "CAM-1", T0 + 20 * DAY + 2000),
        mkread("mid-1", "RET1", "CAM-1", T0 + 21 * DAY + 1000),
        mkread("mid-2", "RET2", "CAM-1", T0 + 21 * DAY + 9000),
    };
    r[0].hits = &hit;
    r[0].n_hits = 1;
    store_insert st[4];
    REQUIRE(s->ops->insert_reads(s, r, 4, st) == STORE_OK);
    int64_t before, after, deleted;
    CHECK(s->ops->count_reads(s, &before) == STORE_OK);
    long long parts = n_partitions();
    CHECK(sql_count("SELECT count(*) FROM alerts WHERE read_id = 'old-1'") == 1);
    CHECK(n_recorded() == 0);

    /* Cut in the middle of T0+21d: every older day goes whole, plus mid-1. */
    int64_t cutoff = T0 + 21 * DAY + 5000;
    long long older = sql_count("SELECT count(*) FROM read_ids WHERE time_ms < "
                                "1795478400000 + 21 * 86400000::bigint + 5000");
    CHECK(older > 4);

    /* No record can be written: nothing goes. */
    store_audit a = retention_audit();
    REQUIRE(fail_retention_audit(0) == 0);
    CHECK(s->ops->delete_reads_before(s, cutoff, &a, &deleted) == STORE_ERR);
    CHECK(strstr(store_error(), "injected failure"));
    CHECK(s->ops->count_reads(s, &after) == STORE_OK && after == before);
    CHECK(n_partitions() == parts && n_recorded() == 0);
    REQUIRE(fail_retention_audit(-1) == 0);

    /* The second day's record fails: the first day is gone, and recorded. */
    REQUIRE(fail_retention_audit(1) == 0);
    CHECK(s->ops->delete_reads_before(s, cutoff, &a, &deleted) == STORE_ERR);
    CHECK(s->ops->count_reads(s, &after) == STORE_OK && after < before);
    CHECK(deleted == before - after && n_recorded() == deleted);
    CHECK(n_partitions_before_day21() > 0);
    REQUIRE(fail_retention_audit(-1) == 0);

    /* Then the whole sweep: every read that went is in a record. */
    a = retention_audit();
    CHECK(s->ops->delete_reads_before(s, cutoff, &a, &deleted) == STORE_OK);
    CHECK(s->ops->count_reads(s, &after) == STORE_OK && after == before - older);
    CHECK(n_recorded() == older && a.id > 0 && a.result_count == 1);
    CHECK(n_partitions_before_day21() == 0);
    CHECK(n_partitions() < parts);
    CHECK(sql_count("SELECT count(*) FROM reads") == after);
    CHECK(sql_count("SELECT count(*) FROM alerts WHERE read_id = 'old-1'") == 0);
    store_read got;
    CHECK(s->ops->get_read(s, "mid-2", &got) == STORE_OK);
    CHECK(s->ops->get_read(s, "mid-1", &got) == STORE_NOTFOUND);
    chain c = {.ok = 1};
    snprintf(c.prev, sizeof c.prev, "%064d", 0);
    CHECK(s->ops->audit_list(s, 0, check_audit, &c) == STORE_OK && c.ok);

    /* The IDs went with the reads: stored again they are new, and a
     * dropped day this handle remembered is made again. */
    REQUIRE(s->ops->insert_reads(s, r, 2, st) == STORE_OK);
    CHECK(st[0] == STORE_INSERTED && st[1] == STORE_INSERTED);
    CHECK(n_partitions_before_day21() == 1);
}

/* Another handle dropping a day this one believes in. */
static void test_stale_partition(store *a, store *b)
{
    store_read r = mkread("stale-1", "STALE1", "CAM-1", T0 + 30 * DAY);
    store_insert st;
    REQUIRE(a->ops->insert_reads(a, &r, 1, &st) == STORE_OK);
    int64_t deleted;
    store_audit rec = retention_audit();
    CHECK(b->ops->delete_reads_before(b, T0 + 31 * DAY, &rec, &deleted) == STORE_OK);
    r = mkread("stale-2", "STALE1", "CAM-1", T0 + 30 * DAY + 1);
    CHECK(a->ops->insert_reads(a, &r, 1, &st) == STORE_OK && st == STORE_INSERTED);
}

int main(void)
{
    url = getenv("ANPR_TEST_PG_URL");
    if (!url) {
        fprintf(stderr, "ANPR_TEST_PG_URL is not set: run under"
                        " tests/serve/with_postgres.sh\n");
        return 1;
    }
    store *bad;
    CHECK(store_open("postgres://nobody@127.0.0.1:1/none", &bad) == STORE_ERR &&
          !bad && strstr(store_error(), "postgres"));

    test_racing_handles();
    store *a, *b;
    REQUIRE(store_open(url, &a) == STORE_OK);
    REQUIRE(store_open(url, &b) == STORE_OK);
    CHECK(!strcmp(a->ops->name, "postgres"));
    int v = 0;
    CHECK(a->ops->schema_version(a, &v) == STORE_OK && v == 2);

    test_reads(a);
    test_many_days(a);
    test_investigations(a);
    test_lists(a);
    test_alerts(a, b);
    test_deliveries(a, b);
    test_retention(a);
    test_stale_partition(a, b);

    a->ops->close(a);
    b->ops->close(b);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
