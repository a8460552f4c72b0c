/*
 * store_sqlite.c: the SQLite engine's handle: opening the file in WAL mode,
 * schema migrations, the connection pool, and helpers for the rest of the
 * engine (store_sqlite_*.c).
 *
 * Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (in
 * the operating system's hands) before the call returns, so it survives the
 * process being killed at any moment (kill -9, a crash); only a power cut or
 * kernel panic can lose the last commits before a checkpoint. "?sync=full"
 * after the path makes every commit fsync as well, for power-loss safety.
 *
 * Checkpoints (copying the WAL back into the database file, with an fsync)
 * run on a thread of their own every second rather than inside whichever
 * commit crosses the WAL size limit; ingest waits only for the last few
 * frames of one, now and then (sq_checkpoint).
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Migrations, oldest first; the schema version is how many have run. Never
 * edit a released one: append another.
 */
static const char *const sq_migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta VALUES('hotlist_gen', '0');"
    "CREATE TABLE cameras(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',"
    " lat REAL NOT NULL DEFAULT 0, lon REAL NOT NULL DEFAULT 0,"
    " bearing REAL NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '',"
    " purpose TEXT NOT NULL DEFAULT '', installed_ms INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE reads(id TEXT PRIMARY KEY, vrm TEXT NOT NULL,"
    " vrm_key TEXT NOT NULL, confidence REAL NOT NULL, camera TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, lane INTEGER NOT NULL DEFAULT 0,"
    " direction TEXT NOT NULL DEFAULT '', patch BLOB, overview BLOB,"
    " received_ms INTEGER NOT NULL);"
    "CREATE INDEX reads_vrm ON reads(vrm, time_ms);"
    "CREATE INDEX reads_key ON reads(vrm_key, time_ms);"
    "CREATE INDEX reads_camera ON reads(camera, time_ms);"
    "CREATE INDEX reads_time ON reads(time_ms);"
    "CREATE TABLE hotlists(name TEXT PRIMARY KEY, priority INTEGER NOT NULL,"
    " fuzzy INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE hotlist_entries(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " hotlist TEXT NOT NULL REFERENCES hotlists(name) ON DELETE CASCADE,"
    " vrm TEXT NOT NULL, is_pattern INTEGER NOT NULL, reason TEXT NOT NULL,"
    " priority INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '',"
    " expires_ms INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE INDEX entries_hotlist ON hotlist_entries(hotlist);"
    "CREATE TABLE alerts(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " read_id TEXT NOT NULL, entry_id INTEGER NOT NULL, hotlist TEXT NOT NULL,"
    " vrm TEXT NOT NULL, entry_vrm TEXT NOT NULL, match INTEGER NOT NULL,"
    " substitutions INTEGER NOT NULL, priority INTEGER NOT NULL,"
    " reason TEXT NOT NULL, camera TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, ack_ms INTEGER NOT NULL DEFAULT 0,"
    " ack_by TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL DEFAULT '',"
    " UNIQUE(read_id, entry_id));"
    "CREATE INDEX alerts_read ON alerts(read_id);"
    "CREATE TABLE tokens(hash TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time_ms INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,"
    " purpose TEXT NOT NULL, justification TEXT NOT NULL,"
    " authorisation TEXT NOT NULL, query TEXT NOT NULL,"
    " result_count INTEGER NOT NULL, result TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);",
    /* 2: the webhook outbox (store.h). Alerts stored before it have had
     * their webhooks sent from memory, or lost: none is sent again. */
    "CREATE TABLE deliveries(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, due_ms INTEGER NOT NULL,"
    " done_ms INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX deliveries_alert ON deliveries(alert_id);"
    "CREATE INDEX deliveries_due ON deliveries(due_ms) WHERE state = 0;",
    /* 3: a read's plate is found through reads_key alone (vrm_key, then
     * vrm as a filter; store_sqlite_reads.c), so ingest updates one
     * random-key index instead of two (figures: src/serve/README.md). */
    "DROP INDEX reads_vrm;",
};
#define SQ_NMIGRATIONS ((int)(sizeof sq_migrations / sizeof sq_migrations[0]))

store_code sq_fail(sqlite3 *db, const char *what)
{
    store_set_error("sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return STORE_ERR;
}

sqlite3_stmt *sq_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sq_fail(db, "prepare");
        return NULL;
    }
    return st;
}

store_code sq_run(sq_store *s, sqlite3_stmt *st, const char *what)
{
    store_code rc = sqlite3_step(st) == SQLITE_DONE ? STORE_OK
                                                    : sq_fail(s->writer, what);
    sqlite3_finalize(st);
    return rc;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* Opens one connection with the settings every connection needs. */
static sqlite3 *sq_connect(const sq_store *s)
{
    const char *path = s->path;
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, sq_wal_vfs()) != SQLITE_OK) {
        sq_fail(db, path);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             " PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
             " PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=268435456;",
             s->full_sync ? "FULL" : "NORMAL");
    if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(db, path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

sqlite3 *sq_reader(sq_store *s)
{
    pthread_mutex_lock(&s->plock);
    sq_conn *c = s->pool;
    if (c)
        s->pool = c->next;
    pthread_mutex_unlock(&s->plock);
    if (c) {
        sqlite3 *db = c->db;
        free(c);
        return db;
    }
    return sq_connect(s);
}

void sq_release(sq_store *s, sqlite3 *db)
{
    sq_conn *c = malloc(sizeof *c);
    if (!c) {
        sqlite3_close(db);
        return;
    }
    c->db = db;
    pthread_mutex_lock(&s->plock);
    c->next = s->pool;
    s->pool = c;
    pthread_mutex_unlock(&s->plock);
}

store_code sq_iter_open(sq_iter *it, sq_store *s, const char *sql,
                        const char *text1, int64_t int2)
{
    it->s = s;
    it->step = SQLITE_ROW;
    it->st = NULL;
    if (!(it->db = sq_reader(s)))
        return STORE_ERR;
    if (!(it->st = sq_prepare(it->db, sql))) {
        sq_release(s, it->db);
        return STORE_ERR;
    }
    if (text1)
        sqlite3_bind_text(it->st, 1, text1, -1, SQLITE_STATIC);
    sqlite3_bind_int64(it->st, 2, int2);
    return STORE_OK;
}

int sq_iter_next(sq_iter *it)
{
    if (it->step == SQLITE_ROW)
        it->step = sqlite3_step(it->st);
    return it->step == SQLITE_ROW;
}

store_code sq_iter_close(sq_iter *it)
{
    store_code rc = it->step == SQLITE_ROW || it->step == SQLITE_DONE
        ? STORE_OK : sq_fail(it->db, "query");
    sqlite3_finalize(it->st);
    sq_release(it->s, it->db);
    return rc;
}

store_code sq_one_int(sq_store *s, const char *sql, int64_t *n)
{
    sq_iter it;
    if (sq_iter_open(&it, s, sql, NULL, 0) != STORE_OK)
        return STORE_ERR;
    *n = sq_iter_next(&it) ? sqlite3_column_int64(it.st, 0) : 0;
    return sq_iter_close(&it);
}

store_code sq_begin(sq_store *s)
{
    pthread_mutex_lock(&s->wlock);
    if (sqlite3_exec(s->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        store_code rc = sq_fail(s->writer, "begin");
        pthread_mutex_unlock(&s->wlock);
        return rc;
    }
    return STORE_OK;
}

store_code sq_end(sq_store *s, store_code rc)
{
    if (rc == STORE_OK) {
        if (sqlite3_exec(s->writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = sq_fail(s->writer, "commit");
    }
    if (rc != STORE_OK && !sqlite3_get_autocommit(s->writer))
        sqlite3_exec(s->writer, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

void sq_alerts_committed(sq_store *s, int64_t id)
{
    pthread_mutex_lock(&s->alock);
    if (id > s->last_alert)
        s->last_alert = id;
    pthread_cond_broadcast(&s->acond);
    pthread_mutex_unlock(&s->alock);
    store_alerts_committed(&s->base, id);
}

store_code sq_bump_hotlist_gen(sq_store *s)
{
    if (sqlite3_exec(s->writer,
                     "UPDATE meta SET value = CAST(value AS INTEGER) + 1"
                     " WHERE key = 'hotlist_gen'", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s->writer, "hotlist generation");
    return STORE_OK;
}

/* Reads meta 'schema_version' on db; 0 when there is no meta table yet. */
static int sq_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Brings the schema up to date, one migration per transaction. */
static store_code sq_migrate(sq_store *s)
{
    for (;;) {
        store_code rc = sq_begin(s);
        if (rc != STORE_OK)
            return rc;
        int v = sq_version(s->writer);
        if (v > SQ_NMIGRATIONS) {
            store_set_error("sqlite: %s has schema version %d, newer than this"
                            " program knows (%d)", s->path, v, SQ_NMIGRATIONS);
            return sq_end(s, STORE_INVALID);
        }
        if (v == SQ_NMIGRATIONS)
            return sq_end(s, STORE_OK);
        if (sqlite3_exec(s->writer, sq_migrations[v], NULL, NULL, NULL) != SQLITE_OK)
            return sq_end(s, sq_fail(s->writer, "migration"));
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES"
                 "('schema_version', '%d')", v + 1);
        if (sqlite3_exec(s->writer, sql, NULL, NULL, NULL) != SQLITE_OK)
            return sq_end(s, sq_fail(s->writer, "migration"));
        rc = sq_end(s, STORE_OK);
        if (rc != STORE_OK)
            return rc;
    }
}

static store_code sq_schema_version(store *base, int *version)
{
    sq_store *s = (sq_store *)base;
    pthread_mutex_lock(&s->wlock);
    *version = sq_version(s->writer);
    pthread_mutex_unlock(&s->wlock);
    return STORE_OK;
}

/*
 * The WAL is cut back to journal_size_limit when it restarts. With a 64 MiB
 * limit and a checkpoint a second, full-rate ingest (over 100 MiB of frames
 * a second) had the file cut and grown again every second, the kernel
 * allocating and zeroing a fresh page for every frame. With 256 MiB, and the
 * checkpointer woken each time the WAL grows by half of that (in 4 KiB
 * pages), the WAL stays under the limit and is rewritten in place, in the
 * page cache. Runs in the writer's commit, under wlock.
 */
#define SQ_WAL_WAKE_FRAMES 32768

static int sq_wal_grew(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    sq_store *s = arg;
    pthread_mutex_lock(&s->alock);
    /* Once per step of growth: a checkpoint held back by a reader must
     * not be retried on every commit. */
    if (frames / SQ_WAL_WAKE_FRAMES > s->wal_frames / SQ_WAL_WAKE_FRAMES) {
        s->checkpoint_due = 1;
        pthread_cond_broadcast(&s->acond);
    }
    s->wal_frames = frames;
    pthread_mutex_unlock(&s->alock);
    return SQLITE_OK;
}

/*
 * A checkpoint copies the WAL into the database while writers go on; the
 * next transaction starts the WAL afresh only if a pass finished with no
 * commit since, which under steady ingest none does. So once the WAL is a
 * quarter of its limit, a last pass holds writers off. Unlocked passes come
 * first, until one leaves at most SQ_CKPT_TAIL frames (about what commits
 * add during a pass) or the WAL reaches half its limit, so the locked pass
 * copies a few MiB and its two fsyncs take a few ms. Holding writers off
 * every second for all that a single pass had left (thousands of frames at
 * 5,000 reads/s) stalled the commits behind it 20-180 ms on a loaded
 * machine: most of read-to-alert's p99.
 */
#define SQ_CKPT_TAIL 1024
#define SQ_CKPT_PASSES 8        /* unlocked passes at most before that one */

/* One checkpoint, as above. PASSIVE: it copies what no reader still needs
 * and never blocks readers. */
static void sq_checkpoint(sq_store *s, sqlite3 *db)
{
    int frames = 0, left = 0;
    for (int pass = 0; pass < SQ_CKPT_PASSES; pass++) {
        int log, done;
        if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
            != SQLITE_OK)
            return;
        /* What was committed during the pass; nothing (or less) when the
         * WAL has started afresh since. */
        pthread_mutex_lock(&s->alock);
        frames = s->wal_frames;
        pthread_mutex_unlock(&s->alock);
        left = frames - done;
        if (left <= SQ_CKPT_TAIL || frames < SQ_WAL_WAKE_FRAMES / 2
            || frames >= SQ_WAL_WAKE_FRAMES)
            break;
    }
    if (left > 0 && frames >= SQ_WAL_WAKE_FRAMES / 2) {
        pthread_mutex_lock(&s->wlock);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&s->wlock);
    }
}

/* Checkpoints once a second, or sooner when sq_wal_grew() asks, until the
 * store closes. */
static void *sq_checkpoint_loop(void *arg)
{
    sq_store *s = arg;
    sqlite3 *db = sq_connect(s);
    pthread_mutex_lock(&s->alock);
    while (db && !s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        while (!s->checkpoint_due && !s->stopping)
            if (pthread_cond_timedwait(&s->acond, &s->alock, &until))
                break; /* the second is up */
        if (s->stopping)
            break;
        s->checkpoint_due = 0;
        pthread_mutex_unlock(&s->alock);
        sq_checkpoint(s, db);
        pthread_mutex_lock(&s->alock);
    }
    pthread_mutex_unlock(&s->alock);
    sqlite3_close(db);
    return NULL;
}

static void sq_close(store *base)
{
    sq_store *s = (sq_store *)base;
    if (!s)
        return;
    if (s->has_checkpointer) {
        pthread_mutex_lock(&s->alock);
        s->stopping = 1;
        pthread_cond_broadcast(&s->acond);
        pthread_mutex_unlock(&s->alock);
        pthread_join(s->checkpointer, NULL);
    }
    while (s->pool) {
        sq_conn *c = s->pool;
        s->pool = c->next;
        sqlite3_close(c->db);
        free(c);
    }
    sqlite3_close(s->writer);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->plock);
    pthread_mutex_destroy(&s->alock);
    pthread_cond_destroy(&s->acond);
    pthread_mutex_destroy(&s->glock);
    pthread_cond_destroy(&s->gcond);
    free(s->path);
    free(s);
}

static const store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .insert_reads = sq_insert_reads,
    .search_reads = sq_search_reads,
    .get_read = sq_get_read,
    .get_image = sq_get_image,
    .count_reads = sq_count_reads,
    .delete_reads_before = sq_delete_reads_before,
    .first_last_seen = sq_first_last_seen,
    .convoy = sq_convoy,
    .journeys = sq_journeys,
    .put_camera = sq_put_camera,
    .get_camera = sq_get_camera,
    .list_cameras = sq_list_cameras,
    .put_hotlist = sq_put_hotlist,
    .get_hotlist = sq_get_hotlist,
    .list_hotlists = sq_list_hotlists,
    .delete_hotlist = sq_delete_hotlist,
    .add_entries = sq_add_entries,
    .delete_entry = sq_delete_entry,
    .list_entries = sq_list_entries,
    .hotlist_generation = sq_hotlist_generation,
    .create_alert = sq_create_alert,
    .get_alert = sq_get_alert,
    .list_alerts = sq_list_alerts,
    .ack_alert = sq_ack_alert,
    .wait_alerts = sq_wait_alerts,
    .claim_delivery = sq_claim_delivery,
    .finish_delivery = sq_finish_delivery,
    .add_token = sq_add_token,
    .find_token = sq_find_token,
    .count_tokens = sq_count_tokens,
    .audit_append = sq_audit_append,
    .audit_list = sq_audit_list,
};

store_code store_sqlite_open(const char *path, store **out)
{
    *out = NULL;
    sq_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        store_set_error("out of memory");
        return STORE_ERR;
    }
    /* "PATH?sync=full": the only option there is. */
    char *q = strchr(s->path, '?');
    if (q) {
        if (strcmp(q, "?sync=full")) {
            store_set_error("sqlite: unknown option '%s' (only ?sync=full)", q);
            free(s->path);
            free(s);
            return STORE_INVALID;
        }
        *q = 0;
        s->full_sync = 1;
    }
    s->base.ops = &sq_ops;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->plock, NULL);
    pthread_mutex_init(&s->alock, NULL);
    pthread_mutex_init(&s->glock, NULL);
    pthread_cond_init(&s->gcond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->acond, &ca);
    pthread_condattr_destroy(&ca);
    s->writer = sq_connect(s);
    /* The writer touches every index with each read; a larger cache keeps
     * their upper levels in memory as the store grows. */
    if (s->writer) {
        sqlite3_exec(s->writer, "PRAGMA cache_size=-262144", NULL, NULL, NULL);
        sqlite3_wal_hook(s->writer, sq_wal_grew, s);
    }
    store_code rc = s->writer ? sq_migrate(s) : STORE_ERR;
    if (rc == STORE_OK && pthread_create(&s->checkpointer, NULL, sq_checkpoint_loop, s)) {
        store_set_error("sqlite: cannot start the checkpoint thread");
        rc = STORE_ERR;
    }
    s->has_checkpointer = rc == STORE_OK;
    if (rc != STORE_OK) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return STORE_OK;
}
