/*
 * store_pg.c: the PostgreSQL engine's handle: opening it (which runs the
 * schema migrations), the connection pool, and the statement and result
 * helpers the rest of the engine (store_pg_*.c) uses.
 *
 * Durability: every connection runs with synchronous_commit on, so a call
 * that changes data returns only after PostgreSQL has flushed its commit
 * to the write-ahead log.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

store_code pgs_fail(PGconn *pg, const char *what)
{
    const char *msg = pg ? PQerrorMessage(pg) : "out of memory";
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    store_set_error("postgres: %s: %.*s", what, (int)n, msg);
    return STORE_ERR;
}

PGconn *pgs_connect(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        pgs_fail(pg, "connect");
        PQfinish(pg);
        return NULL;
    }
    /* Durable commits whatever the server's default; plain messages.
     * Prepared statements are planned for their values every time: a
     * generic plan would open every day partition of reads, a custom one
     * only the days its values name. */
    PGresult *r = PQexec(pg, "SET synchronous_commit = on;"
                             " SET client_min_messages = warning;"
                             " SET plan_cache_mode = force_custom_plan");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        pgs_fail(pg, "connect");
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

pgs_conn *pgs_get(pgs_store *s)
{
    pthread_mutex_lock(&s->plock);
    while (!s->pool && s->n_conns >= PGS_POOL_MAX)
        pthread_cond_wait(&s->pcond, &s->plock);
    pgs_conn *c = s->pool;
    if (c) {
        s->pool = c->next;
        pthread_mutex_unlock(&s->plock);
        return c;
    }
    s->n_conns++;
    pthread_mutex_unlock(&s->plock);

    c = calloc(1, sizeof *c);
    if (c && !(c->pg = pgs_connect(s->url))) {
        free(c);
        c = NULL;
    } else if (!c) {
        store_set_error("out of memory");
    }
    if (!c) {
        pthread_mutex_lock(&s->plock);
        s->n_conns--;
        pthread_cond_signal(&s->pcond);
        pthread_mutex_unlock(&s->plock);
    }
    return c;
}

void pgs_put(pgs_store *s, pgs_conn *c)
{
    if (!c)
        return;
    int broken = PQstatus(c->pg) != CONNECTION_OK ||
                 PQtransactionStatus(c->pg) != PQTRANS_IDLE;
    pthread_mutex_lock(&s->plock);
    if (broken) {
        s->n_conns--;
    } else {
        c->next = s->pool;
        s->pool = c;
    }
    pthread_cond_signal(&s->pcond);
    pthread_mutex_unlock(&s->plock);
    if (broken) {
        PQfinish(c->pg);
        free(c);
    }
}

/* Accepts a result of the right kind, else records why it failed. */
static PGresult *pgs_check(PGconn *pg, PGresult *r, const char *what,
                           char code[6])
{
    ExecStatusType st = PQresultStatus(r);
    if (r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
        return r;
    if (code) {
        const char *sqlstate = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(code, 6, "%s", sqlstate ? sqlstate : "");
    }
    if (r && PQresultErrorMessage(r)[0]) {
        const char *msg = PQresultErrorMessage(r);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            n--;
        store_set_error("postgres: %s: %.*s", what, (int)n, msg);
    } else {
        pgs_fail(pg, what);
    }
    PQclear(r);
    return NULL;
}

PGresult *pgs_run(pgs_conn *c, const pgs_stmt *st, int n,
                  const char *const *vals, const int *lens, const int *fmts,
                  int binary_result, const char *what, char code[6])
{
    int known = 0;
    for (int i = 0; i < c->n_prepared && !known; i++)
        known = c->prepared[i] == st;
    if (!known && c->n_prepared == PGS_STMTS_MAX) {
        /* More statements than slots: run this one unprepared. */
        return pgs_check(c->pg, PQexecParams(c->pg, st->sql, n, NULL, vals, lens,
                                             fmts, binary_result), what, code);
    }
    if (!known) {
        PGresult *r = pgs_check(c->pg, PQprepare(c->pg, st->name, st->sql, 0, NULL),
                                what, code);
        if (!r)
            return NULL;
        PQclear(r);
        c->prepared[c->n_prepared++] = st;
    }
    return pgs_check(c->pg, PQexecPrepared(c->pg, st->name, n, vals, lens, fmts,
                                           binary_result), what, code);
}

PGresult *pgs_query(pgs_store *s, const pgs_stmt *st, int n,
                    const char *const *vals, const char *what)
{
    pgs_conn *c = pgs_get(s);
    if (!c)
        return NULL;
    PGresult *r = pgs_run(c, st, n, vals, NULL, NULL, 0, what, NULL);
    pgs_put(s, c);
    return r;
}

store_code pgs_one_int(pgs_store *s, const pgs_stmt *st, const char *what,
                       int64_t *n)
{
    PGresult *r = pgs_query(s, st, 0, NULL, what);
    if (!r)
        return STORE_ERR;
    *n = PQntuples(r) ? pgs_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return STORE_OK;
}

PGresult *pgs_run_sql(pgs_conn *c, const char *sql, int n,
                      const char *const *vals, const char *what, char code[6])
{
    return pgs_check(c->pg, PQexecParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0),
                     what, code);
}

store_code pgs_cmd(pgs_conn *c, const char *sql, const char *what)
{
    PGresult *r = pgs_check(c->pg, PQexec(c->pg, sql), what ? what : sql, NULL);
    if (!r)
        return STORE_ERR;
    PQclear(r);
    return STORE_OK;
}

store_code pgs_end(pgs_conn *c, store_code rc)
{
    if (rc == STORE_OK)
        return pgs_cmd(c, "COMMIT", NULL);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
    return rc;
}

const char *pgs_i64(pgs_num *n, int64_t v)
{
    snprintf(n->s, sizeof n->s, "%lld", (long long)v);
    return n->s;
}

const char *pgs_f64(pgs_num *n, double v)
{
    snprintf(n->s, sizeof n->s, "%.17g", v);
    return n->s;
}

int64_t pgs_get_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pgs_get_f64(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

void pgs_get_text(const PGresult *r, int row, int col, char *dst, size_t n)
{
    snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

static void pgs_close(store *base)
{
    pgs_store *s = (pgs_store *)base;
    if (!s)
        return;
    pgs_listener_stop(s);
    while (s->pool) {
        pgs_conn *c = s->pool;
        s->pool = c->next;
        PQfinish(c->pg);
        free(c);
    }
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->plock);
    pthread_cond_destroy(&s->pcond);
    pthread_mutex_destroy(&s->dlock);
    pthread_mutex_destroy(&s->alock);
    pthread_cond_destroy(&s->acond);
    free(s->days.day);
    free(s->url);
    free(s);
}

static const store_ops pgs_ops = {
    .name = "postgres",
    .close = pgs_close,
    .schema_version = pgs_schema_version,
    .insert_reads = pgs_insert_reads,
    .search_reads = pgs_search_reads,
    .get_read = pgs_get_read,
    .get_image = pgs_get_image,
    .count_reads = pgs_count_reads,
    .delete_reads_before = pgs_delete_reads_before,
    .first_last_seen = pgs_first_last_seen,
    .convoy = pgs_convoy,
    .journeys = pgs_journeys,
    .put_camera = pgs_put_camera,
    .get_camera = pgs_get_camera,
    .list_cameras = pgs_list_cameras,
    .put_hotlist = pgs_put_hotlist,
    .get_hotlist = pgs_get_hotlist,
    .list_hotlists = pgs_list_hotlists,
    .delete_hotlist = pgs_delete_hotlist,
    .add_entries = pgs_add_entries,
    .delete_entry = pgs_delete_entry,
    .list_entries = pgs_list_entries,
    .hotlist_generation = pgs_hotlist_generation,
    .create_alert = pgs_create_alert,
    .get_alert = pgs_get_alert,
    .list_alerts = pgs_list_alerts,
    .ack_alert = pgs_ack_alert,
    .wait_alerts = pgs_wait_alerts,
    .claim_delivery = pgs_claim_delivery,
    .finish_delivery = pgs_finish_delivery,
    .add_token = pgs_add_token,
    .find_token = pgs_find_token,
    .count_tokens = pgs_count_tokens,
    .audit_append = pgs_audit_append,
    .audit_list = pgs_audit_list,
};

store_code store_pg_open(const char *url, store **out)
{
    *out = NULL;
    pgs_store *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url)) || pipe(s->wake)) {
        if (s)
            free(s->url);
        free(s);
        store_set_error("out of memory or out of file descriptors");
        return STORE_ERR;
    }
    s->base.ops = &pgs_ops;
    pthread_mutex_init(&s->plock, NULL);
    pthread_cond_init(&s->pcond, NULL);
    pthread_mutex_init(&s->dlock, NULL);
    pthread_mutex_init(&s->alock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->acond, &ca);
    pthread_condattr_destroy(&ca);
    store_code rc = pgs_migrate(s);
    if (rc != STORE_OK) {
        pgs_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return STORE_OK;
}
