/*
 * api_admin.c: what only an admin token may do: issue tokens, read the
 * audit log, and verify its hash chain.
 */
#include "api.h"

#include "auth.h"
#include "jsonin.h"
#include "jsonout.h"
#include "valid.h"

#include <stdio.h>
#include <string.h>

void api_tokens_post(api_call *c)
{
    json_t *body = api_body(c);
    if (!body)
        return;
    const char *name = NULL, *role = "user";
    char err[JSONIN_ERR];
    int bad = jsonin_string(body, "name", 1, 64, &name, err)
              || jsonin_string(body, "role", 0, 16, &role, err);
    if (!bad && (!valid_name(name) || (strcmp(role, "user") && strcmp(role, "admin")))) {
        snprintf(err, sizeof err, "'name' is 1 to 64 of A-Z a-z 0-9 . _ - and 'role'"
                 " is \"user\" or \"admin\"");
        bad = 1;
    }
    if (bad) {
        json_decref(body);
        http_error(c->r, 400, "%s", err);
        return;
    }
    char secret[AUTH_SECRET_MAX];
    store_code rc = auth_new_token(c->srv->st, name, role, secret);
    json_t *answer = rc == STORE_OK
        ? json_pack("{s:s, s:s, s:s}", "name", name, "role", role, "token", secret) : NULL;
    json_decref(body);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 201, answer);
}

static json_t *audit_json(const store_audit *a)
{
    return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
                     "id", (json_int_t)a->id, "time", time_json(a->time_ms), "who", a->who,
                     "action", a->action, "purpose", a->purpose, "justification",
                     a->justification, "authorisation", a->authorisation, "query",
                     a->query ? a->query : "", "result_count", (json_int_t)a->result_count,
                     "result", a->result ? a->result : "", "prev_hash", a->prev_hash,
                     "hash", a->hash);
}

typedef struct listing {
    json_t *list;
    int left;
} listing;

static int audit_row(void *ctx, const store_audit *a)
{
    listing *l = ctx;
    json_array_append_new(l->list, audit_json(a));
    return --l->left == 0;
}

void api_audit_list(api_call *c)
{
    int64_t after, limit;
    if (api_query_int(c, "after", 0, 0, INT64_MAX, &after)
        || api_query_int(c, "limit", 100, 1, 1000, &limit))
        return;
    listing l = { json_array(), (int)limit };
    store_code rc = c->srv->st->ops->audit_list(c->srv->st, after, audit_row, &l);
    if (rc != STORE_OK) {
        json_decref(l.list);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o}", "audit", l.list));
}

/* Walks the chain: each record's prev_hash is the hash before it, and its
 * hash is what its fields give. */
typedef struct verify {
    char prev[STORE_HASH_HEX];
    int64_t n, bad_id;
} verify;

static int verify_row(void *ctx, const store_audit *a)
{
    verify *v = ctx;
    char h[STORE_HASH_HEX];
    store_audit_hash(a, v->prev, h);
    if (strcmp(a->prev_hash, v->prev) || strcmp(a->hash, h)) {
        v->bad_id = a->id;
        return 1;
    }
    memcpy(v->prev, a->hash, sizeof v->prev);
    v->n++;
    return 0;
}

void api_audit_verify(api_call *c)
{
    verify v = { .n = 0 };
    memset(v.prev, '0', STORE_HASH_HEX - 1);
    store_code rc = c->srv->st->ops->audit_list(c->srv->st, 0, verify_row, &v);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:b, s:I, s:o, s:s}", "ok", !v.bad_id, "records",
                                   (json_int_t)v.n, "first_bad",
                                   v.bad_id ? json_integer(v.bad_id) : json_null(),
                                   "head", v.prev));
}
