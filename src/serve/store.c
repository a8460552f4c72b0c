/*
 * store.c: what both store engines share: choosing the engine from the
 * address, the per-thread error message, the webhook URLs new alerts get
 * deliveries for, the hook told of committed alerts, and the audit chain's
 * hash.
 */
#include "store.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char store_errbuf[512];

const char *store_error(void)
{
    return store_errbuf[0] ? store_errbuf : "no error";
}

void store_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(store_errbuf, sizeof store_errbuf, fmt, ap);
    va_end(ap);
}

const char *store_strcode(store_code c)
{
    switch (c) {
    case STORE_OK: return "ok";
    case STORE_NOTFOUND: return "not found";
    case STORE_CONFLICT: return "conflict";
    case STORE_INVALID: return "invalid";
    case STORE_ERR: return "store error";
    }
    return "unknown";
}

store_code store_open(const char *url, store **out)
{
    *out = NULL;
    if (!url || !*url) {
        store_set_error("empty database address");
        return STORE_INVALID;
    }
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return store_pg_open(url, out);
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    if (!*url) {
        store_set_error("sqlite: needs a file path");
        return STORE_INVALID;
    }
    return store_sqlite_open(url, out);
}

void store_set_webhooks(store *s, char *const *urls, int n)
{
    s->webhooks = urls;
    s->n_webhooks = n;
}

void store_set_alert_hook(store *s, void (*hook)(void *ctx, int64_t id), void *ctx)
{
    s->alert_hook = hook;
    s->alert_hook_ctx = ctx;
}

void store_alerts_committed(const store *s, int64_t id)
{
    if (s->alert_hook)
        s->alert_hook(s->alert_hook_ctx, id);
}

/* Adds one field and a separator no field may contain (fields are checked
 * printable text or JSON, which escapes control characters). */
static void hash_field(crypto_hash_sha256_state *st, const char *s)
{
    static const unsigned char sep = 0x1f;
    if (s)
        crypto_hash_sha256_update(st, (const unsigned char *)s, strlen(s));
    crypto_hash_sha256_update(st, &sep, 1);
}

void store_audit_hash(const store_audit *a, const char *prev_hash,
                      char out[STORE_HASH_HEX])
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    char num[2][24];

    snprintf(num[0], sizeof num[0], "%lld", (long long)a->time_ms);
    snprintf(num[1], sizeof num[1], "%lld", (long long)a->result_count);
    crypto_hash_sha256_init(&st);
    hash_field(&st, prev_hash);
    hash_field(&st, num[0]);
    hash_field(&st, a->who);
    hash_field(&st, a->action);
    hash_field(&st, a->purpose);
    hash_field(&st, a->justification);
    hash_field(&st, a->authorisation);
    hash_field(&st, a->query);
    hash_field(&st, num[1]);
    hash_field(&st, a->result);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, STORE_HASH_HEX, h, sizeof h);
}
