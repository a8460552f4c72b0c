/*
 * store_pg.h: private to the PostgreSQL engine (store_pg*.c): the handle,
 * its connection pool, and the helpers every part of the engine uses.
 *
 * Every operation borrows a connection from a pool shared by all threads
 * and gives it back; PostgreSQL itself arbitrates between connections and
 * between nodes. Statements are prepared once per connection on first use
 * and always take their values as parameters. Reads live in one partition
 * per UTC day (see store_pg_schema.c); a global table read_ids keeps read
 * IDs unique across partitions.
 */
#ifndef ANPR_STORE_PG_H
#define ANPR_STORE_PG_H

#include "store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Most connections one handle opens; further callers wait for one. */
#define PGS_POOL_MAX 32
/* Distinct prepared statements a connection can hold. */
#define PGS_STMTS_MAX 64

/* Advisory locks, as SQL: held to the end of the transaction. The first
 * key is "anpr" in ASCII, the second what the lock guards. */
#define PGS_LOCK(what) "pg_advisory_xact_lock(1634627698, " what ")"
#define PGS_LOCK_MIGRATE PGS_LOCK("1")     /* schema migrations */
#define PGS_LOCK_PARTITION PGS_LOCK("2")   /* making and dropping day partitions */
#define PGS_LOCK_ALERTS PGS_LOCK("3")      /* alert ids commit in id order */
#define PGS_LOCK_AUDIT PGS_LOCK("4")       /* the audit chain grows one at a time */

/* Channel that carries alert ids between nodes. */
#define PGS_CHANNEL "anpr_alerts"

/*
 * A statement known by name. Each is a static object in the file that uses
 * it; a connection prepares it the first time it runs it.
 */
typedef struct pgs_stmt {
    const char *name;
    const char *sql;
} pgs_stmt;

typedef struct pgs_conn {
    PGconn *pg;
    const pgs_stmt *prepared[PGS_STMTS_MAX];
    int n_prepared;
    struct pgs_conn *next;
} pgs_conn;

/* Days that have a partition, as this process last saw them. */
typedef struct pgs_days {
    int64_t *day;                  /* sorted days since 1970-01-01 */
    size_t n, cap;
} pgs_days;

typedef struct pgs_store {
    store base;
    char *url;
    pthread_mutex_t plock;         /* guards pool, n_conns, with pcond */
    pthread_cond_t pcond;          /* signalled when a connection comes back */
    pgs_conn *pool;                /* idle connections */
    int n_conns;                   /* open connections, idle or lent */
    pthread_mutex_t dlock;         /* guards days */
    pgs_days days;
    /* The alert listener (store_pg_alerts.c). */
    pthread_mutex_t alock;         /* guards the fields below, with acond */
    pthread_cond_t acond;          /* broadcast on every notification */
    pthread_t listener;
    int listener_running;
    int listener_ok;               /* LISTEN is in force */
    int stop;                      /* close() asks the listener to end */
    int wake[2];                   /* pipe: close() wakes the listener */
    uint64_t notified;             /* counts notifications (and reconnects) */
} pgs_store;

/* Borrows a connection (NULL and error set on failure) / gives it back. A
 * connection that broke, or was left inside a transaction, is closed. */
pgs_conn *pgs_get(pgs_store *s);
void pgs_put(pgs_store *s, pgs_conn *c);

/* Opens one connection with the session settings the engine relies on. */
PGconn *pgs_connect(const char *url);

/*
 * Runs a named statement with text parameters (NULL: SQL NULL); binary
 * parameters where lens/fmts say so (both may be NULL: all text). Results
 * in text unless binary_result. Returns the result when its status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK; otherwise NULL with the error set
 * (naming `what`) and, when code is not NULL, *code the SQLSTATE ("" when
 * none).
 */
PGresult *pgs_run(pgs_conn *c, const pgs_stmt *st, int n,
                  const char *const *vals, const int *lens, const int *fmts,
                  int binary_result, const char *what, char code[6]);

/* pgs_run with text parameters and results on a connection borrowed for
 * that one statement, given back before returning: most operations are a
 * single statement, and a connection held no longer than it is used
 * serves the most callers. */
PGresult *pgs_query(pgs_store *s, const pgs_stmt *st, int n,
                    const char *const *vals, const char *what);

/* The number in the first column of the one row st (no parameters)
 * gives, 0 when it gives none: counts and the like. */
store_code pgs_one_int(pgs_store *s, const pgs_stmt *st, const char *what,
                       int64_t *n);

/* The same for SQL built at run time from fixed pieces (never from
 * values): parsed on every call. */
PGresult *pgs_run_sql(pgs_conn *c, const char *sql, int n,
                      const char *const *vals, const char *what, char code[6]);

/* Runs fixed SQL with no parameters (BEGIN, COMMIT, a migration: several
 * statements are allowed); errors name `what`, or the SQL when NULL. */
store_code pgs_cmd(pgs_conn *c, const char *sql, const char *what);

/* Commits when rc is STORE_OK, else rolls back; returns rc, or STORE_ERR
 * when the commit fails. */
store_code pgs_end(pgs_conn *c, store_code rc);

/* Records the connection's last error as the thread's store error. */
store_code pgs_fail(PGconn *pg, const char *what);

/* Text of an int64, for parameters. */
typedef struct pgs_num {
    char s[24];
} pgs_num;
const char *pgs_i64(pgs_num *n, int64_t v);
const char *pgs_f64(pgs_num *n, double v);

/* Field readers for text results: "" / 0 for NULL. */
int64_t pgs_get_i64(const PGresult *r, int row, int col);
double pgs_get_f64(const PGresult *r, int row, int col);
void pgs_get_text(const PGresult *r, int row, int col, char *dst, size_t n);

/*
 * Binary one-dimensional arrays as statement parameters: unnest() turns
 * them into rows, so a batch of any size is one statement.
 */
typedef struct pgs_array {
    unsigned char *p;
    size_t n, cap;
    int count;
    int failed;                    /* out of memory: the array is unusable */
} pgs_array;

/* Starts an array of the given element type (PostgreSQL type OID). */
void pgs_array_begin(pgs_array *a, uint32_t elem_oid);
void pgs_array_text(pgs_array *a, const char *s);
void pgs_array_bytes(pgs_array *a, const void *p, size_t n); /* NULL: null */
void pgs_array_int4(pgs_array *a, int32_t v);
void pgs_array_int8(pgs_array *a, int64_t v);
void pgs_array_float8(pgs_array *a, double v);
/* Completes the header; returns 0, or -1 (error set) when out of memory. */
int pgs_array_end(pgs_array *a);
void pgs_array_free(pgs_array *a);

#define PGS_OID_BYTEA 17
#define PGS_OID_INT8 20
#define PGS_OID_INT4 23
#define PGS_OID_TEXT 25
#define PGS_OID_FLOAT8 701

/* Brings the schema up to date under an advisory lock (store_pg_schema.c). */
store_code pgs_migrate(pgs_store *s);
store_code pgs_schema_version(store *, int *);

/* Reads' partitions are UTC days: day d holds time_ms in
 * [d * PGS_DAY_MS, (d + 1) * PGS_DAY_MS). */
#define PGS_DAY_MS 86400000LL
int64_t pgs_day(int64_t time_ms);

/* The days in [lo, hi] that have a partition, newest first: column 0 the
 * day, 1 the partition's name. */
PGresult *pgs_partition_days(pgs_conn *c, int64_t lo, int64_t hi);

/* Makes sure the day partitions for reads[0..n) exist; forget=1 first
 * drops what this process believes exists (after another node dropped
 * some). */
store_code pgs_ensure_partitions(pgs_store *s, const store_read *reads,
                                 size_t n, int forget);

/* Bumps meta 'hotlist_gen' inside the connection's open transaction. */
store_code pgs_bump_hotlist_gen(pgs_conn *c);

/* Stores the hits of the reads marked STORE_INSERTED as alerts, with
 * their webhook deliveries for st's URLs, inside the open transaction (ids
 * commit in id order across nodes), and notifies every node. *last gets
 * the highest new id, 0 when none, for store_alerts_committed() once the
 * transaction has committed. */
store_code pgs_insert_alerts(const store *st, pgs_conn *c,
                             const store_read *reads,
                             const store_insert *status, size_t n,
                             int64_t *last);

/* Appends an audit record inside the connection's open transaction, so a
 * change and its record commit together (store_pg_lists.c). Shared by
 * audit_append and delete_reads_before. */
store_code pgs_audit_insert(pgs_conn *c, store_audit *a);

/* Ends the listener thread (close()). */
void pgs_listener_stop(pgs_store *s);

/* The parts of the ops table, each filled by its own file. */
store_code pgs_insert_reads(store *, const store_read *, size_t, store_insert *);
store_code pgs_search_reads(store *, const store_query *, store_read_cb, void *);
store_code pgs_get_read(store *, const char *, store_read *);
store_code pgs_get_image(store *, const char *, store_image, void **, size_t *);
store_code pgs_count_reads(store *, int64_t *);
store_code pgs_delete_reads_before(store *, int64_t, store_audit *, int64_t *);
store_code pgs_first_last_seen(store *, const char *, int64_t, int64_t,
                               store_read *, store_read *, int64_t *);
store_code pgs_convoy(store *, const char *, int64_t, int64_t, int64_t, int,
                      int, store_convoy_cb, void *);
store_code pgs_journeys(store *, const char *, const char *, const char *,
                        int64_t, int64_t, int64_t, int, store_journey_cb,
                        void *);
store_code pgs_put_camera(store *, const store_camera *);
store_code pgs_get_camera(store *, const char *, store_camera *);
store_code pgs_list_cameras(store *, store_camera_cb, void *);
store_code pgs_put_hotlist(store *, const store_hotlist *);
store_code pgs_get_hotlist(store *, const char *, store_hotlist *);
store_code pgs_list_hotlists(store *, store_hotlist_cb, void *);
store_code pgs_delete_hotlist(store *, const char *);
store_code pgs_add_entries(store *, const char *, const store_entry *, size_t,
                           int64_t *);
store_code pgs_delete_entry(store *, const char *, int64_t);
store_code pgs_list_entries(store *, const char *, int, int64_t,
                            store_entry_cb, void *);
store_code pgs_hotlist_generation(store *, int64_t *);
store_code pgs_add_token(store *, const store_token *);
store_code pgs_find_token(store *, const char *, store_token *);
store_code pgs_count_tokens(store *, int64_t *);
store_code pgs_create_alert(store *, const store_alert *, int64_t *);
store_code pgs_get_alert(store *, int64_t, store_alert *);
store_code pgs_list_alerts(store *, const store_alert_query *, store_alert_cb,
                           void *);
store_code pgs_ack_alert(store *, int64_t, const char *, const char *, int64_t);
store_code pgs_wait_alerts(store *, int64_t, int, store_alert_cb, void *);
store_code pgs_claim_delivery(store *, int64_t, int64_t, store_delivery *);
store_code pgs_finish_delivery(store *, const store_delivery *, int64_t,
                               int64_t, const char *);
store_code pgs_audit_append(store *, store_audit *);
store_code pgs_audit_list(store *, int64_t, store_audit_cb, void *);

#endif
