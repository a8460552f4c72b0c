/*
 * store_sqlite.h: private to the SQLite engine (store_sqlite*.c): the handle,
 * its connections, and the small helpers every part of the engine uses.
 *
 * One writer connection, guarded by a mutex, takes every change, so writers
 * never meet SQLITE_BUSY among themselves; readers borrow connections from a
 * pool and, thanks to WAL, never wait for the writer.
 */
#ifndef ANPR_STORE_SQLITE_H
#define ANPR_STORE_SQLITE_H

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>

typedef struct sq_conn {
    sqlite3 *db;
    struct sq_conn *next;
} sq_conn;

typedef struct sq_batch sq_batch;   /* store_sqlite_reads.c */

typedef struct sq_store {
    store base;
    char *path;
    int full_sync;                 /* "?sync=full": fsync every commit */
    pthread_mutex_t wlock;         /* held for every write transaction */
    sqlite3 *writer;
    pthread_mutex_t plock;         /* guards pool */
    sq_conn *pool;                 /* idle reader connections */
    pthread_mutex_t alock;         /* guards last_alert, with acond */
    pthread_cond_t acond;          /* broadcast when this process adds alerts,
                                      or a checkpoint is due */
    int64_t last_alert;            /* highest alert id this process committed */
    pthread_mutex_t glock;         /* guards the group-commit queue */
    pthread_cond_t gcond;          /* broadcast when a group is committed */
    sq_batch *gqueue, *gtail;      /* batches waiting for a commit */
    int gleader;                   /* a thread is committing a group */
    pthread_t checkpointer;        /* moves the WAL into the database */
    int wal_frames;                /* guarded by alock: WAL size after the last commit */
    int checkpoint_due;            /* guarded by alock: the WAL has grown a step */
    int stopping;                  /* guarded by alock; stops the checkpointer */
    int has_checkpointer;
} sq_store;

/* The VFS that gathers WAL writes (store_sqlite_wal.c); NULL, the default
 * one, if it could not be registered. */
const char *sq_wal_vfs(void);

/* Borrows a reader connection (NULL and error set on failure) / returns it. */
sqlite3 *sq_reader(sq_store *s);
void sq_release(sq_store *s, sqlite3 *db);

/* Takes the writer and begins an IMMEDIATE transaction / commits or rolls
 * back (on rc != STORE_OK) and lets the writer go. sq_end returns rc, or
 * STORE_ERR when the commit itself fails. */
store_code sq_begin(sq_store *s);
store_code sq_end(sq_store *s, store_code rc);

/* Prepares sql on db; NULL and error set on failure. */
sqlite3_stmt *sq_prepare(sqlite3 *db, const char *sql);

/* Steps st, prepared on the writer and bound, to its end and finalizes it:
 * how a change inside a write transaction runs. STORE_ERR with the error
 * naming `what` when the step fails. */
store_code sq_run(sq_store *s, sqlite3_stmt *st, const char *what);

/* Records db's last error as the thread's store error; returns STORE_ERR. */
store_code sq_fail(sqlite3 *db, const char *what);

/* Binds a string, or NULL when s is NULL or empty. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);

/* Copies column i into dst (size n), "" for NULL. */
void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t n);

/*
 * A query on a borrowed reader connection, stepped row by row:
 *   sq_iter it;
 *   if (sq_iter_open(&it, s, sql, text1, int2) != STORE_OK) return STORE_ERR;
 *   while (sq_iter_next(&it)) ... it.st's columns ...
 *   return sq_iter_close(&it);
 * text1 (unless NULL) is bound to ?1 and int2 to ?2; more may be bound on
 * it.st before the first sq_iter_next(). close returns STORE_ERR (with the
 * error set) when a step failed.
 */
typedef struct sq_iter {
    sq_store *s;
    sqlite3 *db;
    sqlite3_stmt *st;
    int step;
} sq_iter;

store_code sq_iter_open(sq_iter *it, sq_store *s, const char *sql,
                        const char *text1, int64_t int2);
int sq_iter_next(sq_iter *it);
store_code sq_iter_close(sq_iter *it);

/* The number in the first column of the one row sql gives. */
store_code sq_one_int(sq_store *s, const char *sql, int64_t *n);

/* Tells every waiter in this process, and the alert hook, that alerts up to
 * `id` are committed. */
void sq_alerts_committed(sq_store *s, int64_t id);

/* Bumps meta 'hotlist_gen' inside the current write transaction. */
store_code sq_bump_hotlist_gen(sq_store *s);

/* The parts of the ops table, each filled by its own file. */
store_code sq_insert_reads(store *, const store_read *, size_t, store_insert *);
store_code sq_search_reads(store *, const store_query *, store_read_cb, void *);
store_code sq_get_read(store *, const char *, store_read *);
store_code sq_get_image(store *, const char *, store_image, void **, size_t *);
store_code sq_count_reads(store *, int64_t *);
store_code sq_delete_reads_before(store *, int64_t, store_audit *, int64_t *);
store_code sq_first_last_seen(store *, const char *, int64_t, int64_t,
                              store_read *, store_read *, int64_t *);
store_code sq_convoy(store *, const char *, int64_t, int64_t, int64_t, int,
                     int, store_convoy_cb, void *);
store_code sq_journeys(store *, const char *, const char *, const char *,
                       int64_t, int64_t, int64_t, int, store_journey_cb,
                       void *);
store_code sq_put_camera(store *, const store_camera *);
store_code sq_get_camera(store *, const char *, store_camera *);
store_code sq_list_cameras(store *, store_camera_cb, void *);
store_code sq_put_hotlist(store *, const store_hotlist *);
store_code sq_get_hotlist(store *, const char *, store_hotlist *);
store_code sq_list_hotlists(store *, store_hotlist_cb, void *);
store_code sq_delete_hotlist(store *, const char *);
store_code sq_add_entries(store *, const char *, const store_entry *, size_t,
                          int64_t *);
store_code sq_delete_entry(store *, const char *, int64_t);
store_code sq_list_entries(store *, const char *, int, int64_t,
                           store_entry_cb, void *);
store_code sq_hotlist_generation(store *, int64_t *);
store_code sq_add_token(store *, const store_token *);
store_code sq_find_token(store *, const char *, store_token *);
store_code sq_count_tokens(store *, int64_t *);
store_code sq_create_alert(store *, const store_alert *, int64_t *);
store_code sq_get_alert(store *, int64_t, store_alert *);
store_code sq_list_alerts(store *, const store_alert_query *, store_alert_cb,
                          void *);
store_code sq_ack_alert(store *, int64_t, const char *, const char *, int64_t);
store_code sq_wait_alerts(store *, int64_t, int, store_alert_cb, void *);
store_code sq_claim_delivery(store *, int64_t, int64_t, store_delivery *);
store_code sq_finish_delivery(store *, const store_delivery *, int64_t, int64_t,
                              const char *);
store_code sq_audit_append(store *, store_audit *);
store_code sq_audit_list(store *, int64_t, store_audit_cb, void *);

/* Appends an audit record on the writer, inside the current write
 * transaction, so a change and its record commit together. Shared by
 * audit_append and delete_reads_before. */
store_code sq_audit_insert(sq_store *s, store_audit *a);

/* Inserts one alert row on the writer (inside a transaction), with its
 * pending webhook deliveries; *id is 0 when it existed already. Shared by
 * insert_reads and create_alert. */
store_code sq_insert_alert(sq_store *s, const char *read_id, const store_hit *h,
                           const char *vrm, const char *camera, int64_t time_ms,
                           int64_t created_ms, int64_t *id);

#endif
