/*
 * store_pg_lists.c: the small tables on PostgreSQL: cameras, hotlists and
 * their entries, access tokens, and the audit chain.
 *
 * Every change to a hotlist or entry bumps meta 'hotlist_gen' in its own
 * transaction, which also serialises those changes across nodes (they all
 * update one row). Long listings (entries, audit) are fetched in pages by
 * id, so a million-entry hotlist never sits in memory at once.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per page of a long listing. */
#define PGS_PAGE 10000

/* Fills a row struct from result row i. */
typedef void (*pgs_fill)(const PGresult *r, int i, void *out);

/* Runs a statement that names one row and fills *out from it. */
static store_code pgs_get_one(pgs_store *s, const pgs_stmt *st, int n,
                              const char *const *vals, pgs_fill fill, void *out,
                              const char *what)
{
    PGresult *r = pgs_query(s, st, n, vals, what);
    if (!r)
        return STORE_ERR;
    store_code rc = STORE_OK;
    if (PQntuples(r))
        fill(r, 0, out);
    else {
        store_set_error("no such %s '%s'", what, vals[0]);
        rc = STORE_NOTFOUND;
    }
    PQclear(r);
    return rc;
}

/* Where a listing's rows go: the caller's callback, typed. */
typedef struct pgs_sink {
    union {
        store_camera_cb camera;
        store_hotlist_cb hotlist;
        store_entry_cb entry;
        store_audit_cb audit;
    } cb;
    void *ctx;
} pgs_sink;

/* Hands row i of r to the sink's callback; returns what the callback did. */
typedef int (*pgs_emit)(const pgs_sink *k, const PGresult *r, int i);

/*
 * Lists rows to the sink, page by page: the statement takes the last id seen
 * ($1) and the page size ($2) before its own parameters, and its rows are
 * ordered by the id in column idcol. A statement with no id to page by
 * (small tables) passes idcol -1 and gets one page of everything.
 */
static store_code pgs_list(pgs_store *s, const pgs_stmt *st, int idcol,
                           int n, const char *const *extra, pgs_emit emit,
                           const pgs_sink *sink, int64_t after_id,
                           const char *what)
{
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    store_code rc = STORE_OK;
    const char *vals[8];
    pgs_num after, page;
    for (int k = 0; k < n && k < 6; k++)
        vals[k + 2] = extra[k];
    vals[1] = pgs_i64(&page, PGS_PAGE);
    for (int more = 1; more && rc == STORE_OK;) {
        vals[0] = pgs_i64(&after, after_id);
        PGresult *r = pgs_run(c, st, idcol < 0 ? n : n + 2,
                              idcol < 0 ? vals + 2 : vals, NULL, NULL, 0, what,
                              NULL);
        if (!r) {
            rc = STORE_ERR;
            break;
        }
        int rows = PQntuples(r);
        more = idcol >= 0 && rows == PGS_PAGE;
        for (int i = 0; i < rows; i++) {
            if (emit(sink, r, i)) {
                more = 0;
                break;
            }
            if (idcol >= 0)
                after_id = pgs_get_i64(r, i, idcol);
        }
        PQclear(r);
    }
    pgs_put(s, c);
    return rc;
}

static const pgs_stmt st_bump = {
    "bump_hotlist_gen",
    "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'hotlist_gen'"
};

store_code pgs_bump_hotlist_gen(pgs_conn *c)
{
    PGresult *r = pgs_run(c, &st_bump, 0, NULL, NULL, NULL, 0,
                          "hotlist generation", NULL);
    if (!r)
        return STORE_ERR;
    PQclear(r);
    return STORE_OK;
}

/*
 * Runs one changing statement in a transaction, bumping the hotlist
 * generation with it when bump. No row changed is STORE_NOTFOUND when
 * must_exist; 23505 (a unique key taken) is STORE_CONFLICT.
 */
static store_code pgs_write_one(pgs_store *s, const pgs_stmt *st, int n,
                                const char *const *vals, int bump,
                                int must_exist, const char *what)
{
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    char code[6] = "";
    store_code rc = pgs_cmd(c, "BEGIN", NULL);
    PGresult *r = rc == STORE_OK ? pgs_run(c, st, n, vals, NULL, NULL, 0, what,
                                           code) : NULL;
    if (rc == STORE_OK && !r)
        rc = strcmp(code, "23505") ? STORE_ERR : STORE_CONFLICT;
    if (r && must_exist && !strcmp(PQcmdTuples(r), "0")) {
        store_set_error("no such %s '%s'", what, vals[0]);
        rc = STORE_NOTFOUND;
    }
    PQclear(r);
    if (rc == STORE_OK && bump)
        rc = pgs_bump_hotlist_gen(c);
    rc = pgs_end(c, rc);
    pgs_put(s, c);
    return rc;
}

/* --- cameras --- */

#define PGS_CAMERA_COLS "id, name, lat, lon, bearing, owner, purpose," \
    " installed_ms, created_ms"

static void pgs_fill_camera(const PGresult *r, int i, void *out)
{
    store_camera *c = out;
    pgs_get_text(r, i, 0, c->id, sizeof c->id);
    pgs_get_text(r, i, 1, c->name, sizeof c->name);
    c->lat = pgs_get_f64(r, i, 2);
    c->lon = pgs_get_f64(r, i, 3);
    c->bearing = pgs_get_f64(r, i, 4);
    pgs_get_text(r, i, 5, c->owner, sizeof c->owner);
    pgs_get_text(r, i, 6, c->purpose, sizeof c->purpose);
    c->installed_ms = pgs_get_i64(r, i, 7);
    c->created_ms = pgs_get_i64(r, i, 8);
}

static int pgs_emit_camera(const pgs_sink *k, const PGresult *r, int i)
{
    store_camera row;
    pgs_fill_camera(r, i, &row);
    return k->cb.camera(k->ctx, &row);
}

static const pgs_stmt st_put_camera = {
    "put_camera",
    "INSERT INTO cameras (" PGS_CAMERA_COLS ") VALUES ($1, $2, $3::float8,"
    " $4::float8, $5::float8, $6, $7, $8::bigint, $9::bigint)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, lat = excluded.lat,"
    " lon = excluded.lon, bearing = excluded.bearing, owner = excluded.owner,"
    " purpose = excluded.purpose, installed_ms = excluded.installed_ms"
};
static const pgs_stmt st_get_camera = {
    "get_camera", "SELECT " PGS_CAMERA_COLS " FROM cameras WHERE id = $1"
};
static const pgs_stmt st_list_cameras = {
    "list_cameras", "SELECT " PGS_CAMERA_COLS " FROM cameras ORDER BY id"
};

store_code pgs_put_camera(store *base, const store_camera *c)
{
    pgs_num n[5];
    const char *vals[9] = {
        c->id, c->name, pgs_f64(&n[0], c->lat), pgs_f64(&n[1], c->lon),
        pgs_f64(&n[2], c->bearing), c->owner, c->purpose,
        pgs_i64(&n[3], c->installed_ms), pgs_i64(&n[4], c->created_ms)
    };
    return pgs_write_one((pgs_store *)base, &st_put_camera, 9, vals, 0, 0,
                         "camera");
}

store_code pgs_get_camera(store *base, const char *id, store_camera *out)
{
    return pgs_get_one((pgs_store *)base, &st_get_camera, 1, &id,
                       pgs_fill_camera, out, "camera");
}

store_code pgs_list_cameras(store *base, store_camera_cb cb, void *ctx)
{
    pgs_sink k = {.cb.camera = cb, .ctx = ctx};
    return pgs_list((pgs_store *)base, &st_list_cameras, -1, 0, NULL,
                    pgs_emit_camera, &k, 0, "camera");
}

/* --- hotlists --- */

#define PGS_HOTLIST_COLS "name, priority, fuzzy, description, created_ms"

static void pgs_fill_hotlist(const PGresult *r, int i, void *out)
{
    store_hotlist *h = out;
    pgs_get_text(r, i, 0, h->name, sizeof h->name);
    h->priority = (int)pgs_get_i64(r, i, 1);
    h->fuzzy = (int)pgs_get_i64(r, i, 2);
    pgs_get_text(r, i, 3, h->description, sizeof h->description);
    h->created_ms = pgs_get_i64(r, i, 4);
}

static int pgs_emit_hotlist(const pgs_sink *k, const PGresult *r, int i)
{
    store_hotlist row;
    pgs_fill_hotlist(r, i, &row);
    return k->cb.hotlist(k->ctx, &row);
}

static const pgs_stmt st_put_hotlist = {
    "put_hotlist",
    "INSERT INTO hotlists (" PGS_HOTLIST_COLS ") VALUES ($1, $2::integer,"
    " $3::integer, $4, $5::bigint) ON CONFLICT (name) DO UPDATE SET"
    " priority = excluded.priority, fuzzy = excluded.fuzzy,"
    " description = excluded.description"
};
static const pgs_stmt st_get_hotlist = {
    "get_hotlist", "SELECT " PGS_HOTLIST_COLS " FROM hotlists WHERE name = $1"
};
static const pgs_stmt st_list_hotlists = {
    "list_hotlists", "SELECT " PGS_HOTLIST_COLS " FROM hotlists ORDER BY name"
};
static const pgs_stmt st_delete_hotlist = {
    "delete_hotlist", "DELETE FROM hotlists WHERE name = $1"
};

store_code pgs_put_hotlist(store *base, const store_hotlist *h)
{
    pgs_num n[3];
    const char *vals[5] = {
        h->name, pgs_i64(&n[0], h->priority), pgs_i64(&n[1], h->fuzzy),
        h->description, pgs_i64(&n[2], h->created_ms)
    };
    return pgs_write_one((pgs_store *)base, &st_put_hotlist, 5, vals, 1, 0,
                         "hotlist");
}

store_code pgs_get_hotlist(store *base, const char *name, store_hotlist *out)
{
    return pgs_get_one((pgs_store *)base, &st_get_hotlist, 1, &name,
                       pgs_fill_hotlist, out, "hotlist");
}

store_code pgs_list_hotlists(store *base, store_hotlist_cb cb, void *ctx)
{
    pgs_sink k = {.cb.hotlist = cb, .ctx = ctx};
    return pgs_list((pgs_store *)base, &st_list_hotlists, -1, 0, NULL,
                    pgs_emit_hotlist, &k, 0, "hotlist");
}

store_code pgs_delete_hotlist(store *base, const char *name)
{
    return pgs_write_one((pgs_store *)base, &st_delete_hotlist, 1, &name, 1, 1,
                         "hotlist");
}

/* --- hotlist entries --- */

#define PGS_ENTRY_COLS "id, hotlist, vrm, is_pattern, reason, priority," \
    " source, expires_ms, created_ms"

static void pgs_fill_entry(const PGresult *r, int i, void *out)
{
    store_entry *e = out;
    e->id = pgs_get_i64(r, i, 0);
    pgs_get_text(r, i, 1, e->hotlist, sizeof e->hotlist);
    pgs_get_text(r, i, 2, e->vrm, sizeof e->vrm);
    e->is_pattern = (int)pgs_get_i64(r, i, 3);
    pgs_get_text(r, i, 4, e->reason, sizeof e->reason);
    e->priority = (int)pgs_get_i64(r, i, 5);
    pgs_get_text(r, i, 6, e->source, sizeof e->source);
    e->expires_ms = pgs_get_i64(r, i, 7);
    e->created_ms = pgs_get_i64(r, i, 8);
}

static int pgs_emit_entry(const pgs_sink *k, const PGresult *r, int i)
{
    store_entry row;
    pgs_fill_entry(r, i, &row);
    return k->cb.entry(k->ctx, &row);
}

/* The hotlist row is locked so it cannot be deleted under the insert. */
static const pgs_stmt st_lock_hotlist = {
    "lock_hotlist", "SELECT 1 FROM hotlists WHERE name = $1 FOR KEY SHARE"
};
/* ORDER BY n makes identity values follow the order of the arrays. */
static const pgs_stmt st_add_entries = {
    "add_entries",
    "INSERT INTO hotlist_entries (hotlist, vrm, is_pattern, reason, priority,"
    " source, expires_ms, created_ms) SELECT $1, vrm, is_pattern, reason,"
    " priority, source, expires_ms, created_ms FROM unnest($2::text[],"
    " $3::integer[], $4::text[], $5::integer[], $6::text[], $7::bigint[],"
    " $8::bigint[]) WITH ORDINALITY AS t(vrm, is_pattern, reason, priority,"
    " source, expires_ms, created_ms, n) ORDER BY n RETURNING id"
};
#define PGS_ENTRY_ARRAYS 7

static int pgs_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

store_code pgs_add_entries(store *base, const char *name,
                           const store_entry *entries, size_t n, int64_t *ids)
{
    pgs_store *s = (pgs_store *)base;
    static const uint32_t oids[PGS_ENTRY_ARRAYS] = {
        PGS_OID_TEXT, PGS_OID_INT4, PGS_OID_TEXT, PGS_OID_INT4, PGS_OID_TEXT,
        PGS_OID_INT8, PGS_OID_INT8
    };
    pgs_array arr[PGS_ENTRY_ARRAYS];
    const char *vals[PGS_ENTRY_ARRAYS + 1] = {name};
    int lens[PGS_ENTRY_ARRAYS + 1] = {0}, fmts[PGS_ENTRY_ARRAYS + 1] = {0};
    store_code rc = STORE_OK;
    memset(arr, 0, sizeof arr);
    for (int k = 0; k < PGS_ENTRY_ARRAYS; k++)
        pgs_array_begin(&arr[k], oids[k]);
    for (size_t i = 0; i < n; i++) {
        const store_entry *e = &entries[i];
        pgs_array_text(&arr[0], e->vrm);
        pgs_array_int4(&arr[1], e->is_pattern);
        pgs_array_text(&arr[2], e->reason);
        pgs_array_int4(&arr[3], e->priority);
        pgs_array_text(&arr[4], e->source);
        pgs_array_int8(&arr[5], e->expires_ms);
        pgs_array_int8(&arr[6], e->created_ms);
    }
    for (int k = 0; k < PGS_ENTRY_ARRAYS && rc == STORE_OK; k++) {
        if (pgs_array_end(&arr[k]))
            rc = STORE_ERR;
        vals[k + 1] = (const char *)arr[k].p;
        lens[k + 1] = (int)arr[k].n;
        fmts[k + 1] = 1;
    }
    pgs_conn *c = rc == STORE_OK ? pgs_get(s) : NULL;
    if (c) {
        rc = pgs_cmd(c, "BEGIN", NULL);
        PGresult *r = NULL;
        if (rc == STORE_OK) {
            r = pgs_run(c, &st_lock_hotlist, 1, &name, NULL, NULL, 0,
                        "hotlist", NULL);
            if (!r) {
                rc = STORE_ERR;
            } else if (!PQntuples(r)) {
                store_set_error("no such hotlist '%s'", name);
                rc = STORE_NOTFOUND;
            }
            PQclear(r);
            r = NULL;
        }
        if (rc == STORE_OK && n) {
            r = pgs_run(c, &st_add_entries, PGS_ENTRY_ARRAYS + 1, vals, lens,
                        fmts, 0, "adding hotlist entries", NULL);
            if (!r)
                rc = STORE_ERR;
        }
        if (r && ids && (size_t)PQntuples(r) == n) {
            for (size_t i = 0; i < n; i++)
                ids[i] = pgs_get_i64(r, (int)i, 0);
            qsort(ids, n, sizeof *ids, pgs_cmp_i64);
        }
        PQclear(r);
        if (rc == STORE_OK)
            rc = pgs_bump_hotlist_gen(c);
        rc = pgs_end(c, rc);
        pgs_put(s, c);
    } else if (rc == STORE_OK) {
        rc = STORE_ERR;
    }
    for (int k = 0; k < PGS_ENTRY_ARRAYS; k++)
        pgs_array_free(&arr[k]);
    return rc;
}

static const pgs_stmt st_delete_entry = {
    "delete_entry",
    "DELETE FROM hotlist_entries WHERE hotlist = $1 AND id = $2::bigint"
};

store_code pgs_delete_entry(store *base, const char *name, int64_t id)
{
    pgs_num n;
    const char *vals[2] = {name, pgs_i64(&n, id)};
    return pgs_write_one((pgs_store *)base, &st_delete_entry, 2, vals, 1, 1,
                         "entry in hotlist");
}

static const pgs_stmt st_list_entries = {
    "list_entries",
    "SELECT " PGS_ENTRY_COLS " FROM hotlist_entries WHERE id > $1::bigint"
    " AND ($3::text IS NULL OR hotlist = $3) AND ($5::integer <> 0"
    " OR expires_ms = 0 OR expires_ms > $4::bigint)"
    " ORDER BY id LIMIT $2::integer"
};

store_code pgs_list_entries(store *base, const char *name, int with_expired,
                            int64_t now_ms, store_entry_cb cb, void *ctx)
{
    pgs_num n[2];
    const char *vals[3] = {name, pgs_i64(&n[0], now_ms),
                           pgs_i64(&n[1], with_expired)};
    pgs_sink k = {.cb.entry = cb, .ctx = ctx};
    return pgs_list((pgs_store *)base, &st_list_entries, 0, 3, vals,
                    pgs_emit_entry, &k, 0, "hotlist entries");
}

static const pgs_stmt st_generation = {
    "hotlist_gen", "SELECT value::bigint FROM meta WHERE key = 'hotlist_gen'"
};

store_code pgs_hotlist_generation(store *base, int64_t *gen)
{
    return pgs_one_int((pgs_store *)base, &st_generation, "hotlist generation",
                       gen);
}

/* --- tokens --- */

static void pgs_fill_token(const PGresult *r, int i, void *out)
{
    store_token *t = out;
    pgs_get_text(r, i, 0, t->hash, sizeof t->hash);
    pgs_get_text(r, i, 1, t->name, sizeof t->name);
    pgs_get_text(r, i, 2, t->role, sizeof t->role);
    t->created_ms = pgs_get_i64(r, i, 3);
}

static const pgs_stmt st_add_token = {
    "add_token",
    "INSERT INTO tokens (hash, name, role, created_ms)"
    " VALUES ($1, $2, $3, $4::bigint)"
};
static const pgs_stmt st_find_token = {
    "find_token", "SELECT hash, name, role, created_ms FROM tokens WHERE hash = $1"
};
static const pgs_stmt st_count_tokens = {
    "count_tokens", "SELECT count(*) FROM tokens"
};

store_code pgs_add_token(store *base, const store_token *t)
{
    pgs_num n;
    const char *vals[4] = {t->hash, t->name, t->role, pgs_i64(&n, t->created_ms)};
    store_code rc = pgs_write_one((pgs_store *)base, &st_add_token, 4, vals, 0, 0,
                                  "token");
    if (rc == STORE_CONFLICT)
        store_set_error("a token named '%s' or with that secret exists", t->name);
    return rc;
}

store_code pgs_find_token(store *base, const char *hash, store_token *out)
{
    store_code rc = pgs_get_one((pgs_store *)base, &st_find_token, 1, &hash,
                                pgs_fill_token, out, "token");
    if (rc == STORE_NOTFOUND)
        store_set_error("no such token");  /* never echo a secret's hash */
    return rc;
}

store_code pgs_count_tokens(store *base, int64_t *n)
{
    return pgs_one_int((pgs_store *)base, &st_count_tokens, "counting tokens", n);
}

/* --- audit chain --- */

static const pgs_stmt st_audit_lock = {
    "audit_lock", "SELECT " PGS_LOCK_AUDIT
};
static const pgs_stmt st_audit_head = {
    "audit_head", "SELECT hash FROM audit ORDER BY id DESC LIMIT 1"
};
static const pgs_stmt st_audit_insert = {
    "audit_insert",
    "INSERT INTO audit (time_ms, who, action, purpose, justification,"
    " authorisation, query, result_count, result, prev_hash, hash)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8::bigint, $9, $10, $11)"
    " RETURNING id"
};
static const pgs_stmt st_audit_list = {
    "audit_list",
    "SELECT id, time_ms, who, action, purpose, justification, authorisation,"
    " query, result_count, result, prev_hash, hash FROM audit"
    " WHERE id > $1::bigint ORDER BY id LIMIT $2::integer"
};

store_code pgs_audit_insert(pgs_conn *c, store_audit *a)
{
    /* The lock makes reading the head and adding the next one atomic
     * across nodes, so the chain never forks. */
    PGresult *r = pgs_run(c, &st_audit_lock, 0, NULL, NULL, NULL, 0, "audit",
                          NULL);
    if (!r)
        return STORE_ERR;
    PQclear(r);
    if (!(r = pgs_run(c, &st_audit_head, 0, NULL, NULL, NULL, 0, "audit", NULL)))
        return STORE_ERR;
    if (PQntuples(r))
        pgs_get_text(r, 0, 0, a->prev_hash, sizeof a->prev_hash);
    else
        snprintf(a->prev_hash, sizeof a->prev_hash, "%064d", 0);
    PQclear(r);
    store_audit_hash(a, a->prev_hash, a->hash);
    pgs_num n[2];
    const char *vals[11] = {
        pgs_i64(&n[0], a->time_ms), a->who, a->action, a->purpose,
        a->justification, a->authorisation, a->query ? a->query : "",
        pgs_i64(&n[1], a->result_count), a->result ? a->result : "",
        a->prev_hash, a->hash
    };
    if (!(r = pgs_run(c, &st_audit_insert, 11, vals, NULL, NULL, 0, "audit", NULL)))
        return STORE_ERR;
    a->id = pgs_get_i64(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}

store_code pgs_audit_append(store *base, store_audit *a)
{
    pgs_store *s = (pgs_store *)base;
    pgs_conn *c = pgs_get(s);
    if (!c)
        return STORE_ERR;
    store_code rc = pgs_cmd(c, "BEGIN", NULL);
    if (rc == STORE_OK)
        rc = pgs_audit_insert(c, a);
    rc = pgs_end(c, rc);
    pgs_put(s, c);
    return rc;
}

static void pgs_fill_audit(const PGresult *r, int i, void *out)
{
    store_audit *a = out;
    memset(a, 0, sizeof *a);
    a->id = pgs_get_i64(r, i, 0);
    a->time_ms = pgs_get_i64(r, i, 1);
    pgs_get_text(r, i, 2, a->who, sizeof a->who);
    pgs_get_text(r, i, 3, a->action, sizeof a->action);
    pgs_get_text(r, i, 4, a->purpose, sizeof a->purpose);
    pgs_get_text(r, i, 5, a->justification, sizeof a->justification);
    pgs_get_text(r, i, 6, a->authorisation, sizeof a->authorisation);
    a->query = PQgetvalue(r, i, 7);      /* lives as long as the page */
    a->result_count = pgs_get_i64(r, i, 8);
    a->result = PQgetvalue(r, i, 9);
    pgs_get_text(r, i, 10, a->prev_hash, sizeof a->prev_hash);
    pgs_get_text(r, i, 11, a->hash, sizeof a->hash);
}

static int pgs_emit_audit(const pgs_sink *k, const PGresult *r, int i)
{
    store_audit row;
    pgs_fill_audit(r, i, &row);
    return k->cb.audit(k->ctx, &row);
}

store_code pgs_audit_list(store *base, int64_t after_id, store_audit_cb cb,
                          void *ctx)
{
    pgs_sink k = {.cb.audit = cb, .ctx = ctx};
    return pgs_list((pgs_store *)base, &st_audit_list, 0, 0, NULL,
                    pgs_emit_audit, &k, after_id, "audit");
}
