/*
 * store_sqlite_lists.c: the SQLite engine's small registries: cameras,
 * hotlists and their entries, and access tokens.
 */
#include "store_sqlite.h"

#include <string.h>

/* Runs a one-statement write transaction with st already bound; *changed
 * (when not NULL) gets the number of rows it touched. Finalizes st. */
static store_code write_one(sq_store *s, sqlite3_stmt *st, const char *what,
                            int bump_hotlists, int64_t *changed)
{
    store_code rc = STORE_OK;
    int step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT || sqlite3_extended_errcode(s->writer) == SQLITE_CONSTRAINT_UNIQUE
        || sqlite3_extended_errcode(s->writer) == SQLITE_CONSTRAINT_PRIMARYKEY) {
        store_set_error("%s: already exists", what);
        rc = STORE_CONFLICT;
    } else if (step != SQLITE_DONE) {
        rc = sq_fail(s->writer, what);
    }
    if (changed)
        *changed = sqlite3_changes64(s->writer);
    sqlite3_finalize(st);
    if (rc == STORE_OK && bump_hotlists)
        rc = sq_bump_hotlist_gen(s);
    return sq_end(s, rc);
}

/* Begins a write and prepares sql on the writer; NULL (and the write ended)
 * on failure. */
static sqlite3_stmt *write_prepare(sq_store *s, const char *sql)
{
    if (sq_begin(s) != STORE_OK)
        return NULL;
    sqlite3_stmt *st = sq_prepare(s->writer, sql);
    if (!st)
        sq_end(s, STORE_ERR);
    return st;
}

/* Fetches the one row `sql` finds for key into row; NOTFOUND if none. */
static store_code get_one(sq_store *s, const char *sql, const char *key,
                          void (*fill)(sqlite3_stmt *, void *), void *row,
                          const char *what)
{
    sq_iter it;
    if (sq_iter_open(&it, s, sql, key, 0) != STORE_OK)
        return STORE_ERR;
    int found = sq_iter_next(&it);
    if (found)
        fill(it.st, row);
    store_code rc = sq_iter_close(&it);
    if (rc == STORE_OK && !found) {
        store_set_error("no %s '%s'", what, key);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

/* --- cameras --- */

#define CAMERA_COLS "id, name, lat, lon, bearing, owner, purpose, installed_ms, created_ms"

static void fill_camera(sqlite3_stmt *st, void *row)
{
    store_camera *c = row;
    sq_col_text(st, 0, c->id, sizeof c->id);
    sq_col_text(st, 1, c->name, sizeof c->name);
    c->lat = sqlite3_column_double(st, 2);
    c->lon = sqlite3_column_double(st, 3);
    c->bearing = sqlite3_column_double(st, 4);
    sq_col_text(st, 5, c->owner, sizeof c->owner);
    sq_col_text(st, 6, c->purpose, sizeof c->purpose);
    c->installed_ms = sqlite3_column_int64(st, 7);
    c->created_ms = sqlite3_column_int64(st, 8);
}

store_code sq_put_camera(store *base, const store_camera *c)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s,
        "INSERT INTO cameras(" CAMERA_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
        " ON CONFLICT(id) DO UPDATE SET name=excluded.name, lat=excluded.lat,"
        " lon=excluded.lon, bearing=excluded.bearing, owner=excluded.owner,"
        " purpose=excluded.purpose, installed_ms=excluded.installed_ms");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, c->lat);
    sqlite3_bind_double(st, 4, c->lon);
    sqlite3_bind_double(st, 5, c->bearing);
    sqlite3_bind_text(st, 6, c->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->purpose, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, c->installed_ms);
    sqlite3_bind_int64(st, 9, c->created_ms);
    return write_one(s, st, "camera", 0, NULL);
}

store_code sq_get_camera(store *base, const char *id, store_camera *out)
{
    return get_one((sq_store *)base, "SELECT " CAMERA_COLS " FROM cameras WHERE id = ?1",
                   id, fill_camera, out, "camera");
}

store_code sq_list_cameras(store *base, store_camera_cb cb, void *ctx)
{
    sq_iter it;
    store_camera c;
    if (sq_iter_open(&it, (sq_store *)base,
                     "SELECT " CAMERA_COLS " FROM cameras ORDER BY id", NULL, 0) != STORE_OK)
        return STORE_ERR;
    while (sq_iter_next(&it)) {
        fill_camera(it.st, &c);
        if (cb(ctx, &c))
            break;
    }
    return sq_iter_close(&it);
}

/* --- hotlists --- */

#define HOTLIST_COLS "name, priority, fuzzy, description, created_ms"

static void fill_hotlist(sqlite3_stmt *st, void *row)
{
    store_hotlist *h = row;
    sq_col_text(st, 0, h->name, sizeof h->name);
    h->priority = sqlite3_column_int(st, 1);
    h->fuzzy = sqlite3_column_int(st, 2);
    sq_col_text(st, 3, h->description, sizeof h->description);
    h->created_ms = sqlite3_column_int64(st, 4);
}

store_code sq_put_hotlist(store *base, const store_hotlist *h)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s,
        "INSERT INTO hotlists(" HOTLIST_COLS ") VALUES(?1,?2,?3,?4,?5)"
        " ON CONFLICT(name) DO UPDATE SET priority=excluded.priority,"
        " fuzzy=excluded.fuzzy, description=excluded.description");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, h->priority);
    sqlite3_bind_int(st, 3, h->fuzzy);
    sqlite3_bind_text(st, 4, h->description, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, h->created_ms);
    return write_one(s, st, "hotlist", 1, NULL);
}

store_code sq_get_hotlist(store *base, const char *name, store_hotlist *out)
{
    return get_one((sq_store *)base,
                   "SELECT " HOTLIST_COLS " FROM hotlists WHERE name = ?1",
                   name, fill_hotlist, out, "hotlist");
}

store_code sq_list_hotlists(store *base, store_hotlist_cb cb, void *ctx)
{
    sq_iter it;
    store_hotlist h;
    if (sq_iter_open(&it, (sq_store *)base,
                     "SELECT " HOTLIST_COLS " FROM hotlists ORDER BY name", NULL, 0) != STORE_OK)
        return STORE_ERR;
    while (sq_iter_next(&it)) {
        fill_hotlist(it.st, &h);
        if (cb(ctx, &h))
            break;
    }
    return sq_iter_close(&it);
}

store_code sq_delete_hotlist(store *base, const char *name)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s, "DELETE FROM hotlists WHERE name = ?1");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int64_t n = 0;
    store_code rc = write_one(s, st, "hotlist", 1, &n);
    if (rc == STORE_OK && !n) {
        store_set_error("no hotlist '%s'", name);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

/* --- entries --- */

#define ENTRY_COLS "id, hotlist, vrm, is_pattern, reason, priority, source," \
    " expires_ms, created_ms"

static void fill_entry(sqlite3_stmt *st, void *row)
{
    store_entry *e = row;
    e->id = sqlite3_column_int64(st, 0);
    sq_col_text(st, 1, e->hotlist, sizeof e->hotlist);
    sq_col_text(st, 2, e->vrm, sizeof e->vrm);
    e->is_pattern = sqlite3_column_int(st, 3);
    sq_col_text(st, 4, e->reason, sizeof e->reason);
    e->priority = sqlite3_column_int(st, 5);
    sq_col_text(st, 6, e->source, sizeof e->source);
    e->expires_ms = sqlite3_column_int64(st, 7);
    e->created_ms = sqlite3_column_int64(st, 8);
}

store_code sq_add_entries(store *base, const char *name,
                          const store_entry *entries, size_t n, int64_t *ids)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s, "SELECT 1 FROM hotlists WHERE name = ?1");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW) {
        if (step != SQLITE_DONE)
            return sq_end(s, sq_fail(s->writer, "entries"));
        store_set_error("no hotlist '%s'", name);
        return sq_end(s, STORE_NOTFOUND);
    }
    st = sq_prepare(s->writer,
        "INSERT INTO hotlist_entries(hotlist, vrm, is_pattern, reason, priority,"
        " source, expires_ms, created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
    if (!st)
        return sq_end(s, STORE_ERR);
    store_code rc = STORE_OK;
    for (size_t i = 0; i < n; i++) {
        const store_entry *e = &entries[i];
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->vrm, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, e->is_pattern);
        sqlite3_bind_text(st, 4, e->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, e->priority);
        sqlite3_bind_text(st, 6, e->source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, e->expires_ms);
        sqlite3_bind_int64(st, 8, e->created_ms);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = sq_fail(s->writer, "add entry");
            break;
        }
        if (ids)
            ids[i] = sqlite3_last_insert_rowid(s->writer);
    }
    sqlite3_finalize(st);
    if (rc == STORE_OK)
        rc = sq_bump_hotlist_gen(s);
    return sq_end(s, rc);
}

store_code sq_delete_entry(store *base, const char *name, int64_t id)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s,
        "DELETE FROM hotlist_entries WHERE hotlist = ?1 AND id = ?2");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    int64_t n = 0;
    store_code rc = write_one(s, st, "entry", 1, &n);
    if (rc == STORE_OK && !n) {
        store_set_error("hotlist '%s' has no entry %lld", name, (long long)id);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

store_code sq_list_entries(store *base, const char *name, int with_expired,
                           int64_t now_ms, store_entry_cb cb, void *ctx)
{
    sq_iter it;
    store_entry e;
    if (sq_iter_open(&it, (sq_store *)base,
                     "SELECT " ENTRY_COLS " FROM hotlist_entries"
                     " WHERE (?1 IS NULL OR hotlist = ?1)"
                     " AND (?3 OR expires_ms = 0 OR expires_ms > ?2) ORDER BY id",
                     name, now_ms) != STORE_OK)
        return STORE_ERR;
    sqlite3_bind_int(it.st, 3, with_expired);
    while (sq_iter_next(&it)) {
        fill_entry(it.st, &e);
        if (cb(ctx, &e))
            break;
    }
    return sq_iter_close(&it);
}

store_code sq_hotlist_generation(store *base, int64_t *gen)
{
    return sq_one_int((sq_store *)base, "SELECT CAST(value AS INTEGER) FROM meta"
                      " WHERE key = 'hotlist_gen'", gen);
}

/* --- tokens --- */

static void fill_token(sqlite3_stmt *st, void *row)
{
    store_token *t = row;
    sq_col_text(st, 0, t->hash, sizeof t->hash);
    sq_col_text(st, 1, t->name, sizeof t->name);
    sq_col_text(st, 2, t->role, sizeof t->role);
    t->created_ms = sqlite3_column_int64(st, 3);
}

store_code sq_add_token(store *base, const store_token *t)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = write_prepare(s,
        "INSERT INTO tokens(hash, name, role, created_ms) VALUES(?1,?2,?3,?4)");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, t->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, t->created_ms);
    return write_one(s, st, "token", 0, NULL);
}

store_code sq_find_token(store *base, const char *hash, store_token *out)
{
    return get_one((sq_store *)base,
                   "SELECT hash, name, role, created_ms FROM tokens WHERE hash = ?1",
                   hash, fill_token, out, "token");
}

store_code sq_count_tokens(store *base, int64_t *n)
{
    return sq_one_int((sq_store *)base, "SELECT count(*) FROM tokens", n);
}
