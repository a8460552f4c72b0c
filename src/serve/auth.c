/*
 * auth.c: bearer tokens, stored hashed; see auth.h.
 */
#include "auth.h"

#include "when.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The stored form of a secret: SHA-256 as hex. Secrets are 256 random
 * bits, so a fast hash is enough; no password stretching is needed. */
static void token_hash(const char *secret, char out[STORE_HASH_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
    sodium_bin2hex(out, STORE_HASH_HEX, h, sizeof h);
}

/* Makes a fresh secret and the token row that stores its hash. */
static void make_token(const char *name, const char *role,
                       char secret[AUTH_SECRET_MAX], store_token *t)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(secret, "anpr_", 5);
    sodium_bin2hex(secret + 5, AUTH_SECRET_MAX - 5, raw, sizeof raw);
    memset(t, 0, sizeof *t);
    token_hash(secret, t->hash);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->role, sizeof t->role, "%s", role);
    t->created_ms = when_now_ms();
}

store_code auth_new_token(store *st, const char *name, const char *role,
                          char secret[AUTH_SECRET_MAX])
{
    store_token t;
    make_token(name, role, secret, &t);
    return st->ops->add_token(st, &t);
}

store_code auth_check(store *st, const char *header, store_token *who)
{
    if (!header || strncmp(header, "Bearer ", 7))
        return STORE_NOTFOUND;
    const char *secret = header + 7;
    while (*secret == ' ')
        secret++;
    if (strlen(secret) != 5 + 64 || strncmp(secret, "anpr_", 5))
        return STORE_NOTFOUND;
    char hash[STORE_HASH_HEX];
    token_hash(secret, hash);
    return st->ops->find_token(st, hash, who);
}

int auth_first_start(store *st, const char *path, int *created, char *err,
                     size_t errlen)
{
    int64_t n;
    *created = 0;
    if (st->ops->count_tokens(st, &n) != STORE_OK) {
        snprintf(err, errlen, "%s", store_error());
        return -1;
    }
    if (n > 0)
        return 0;
    /* The file is written before the token is stored: a stored token
     * nobody can read would lock everyone out. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write the admin token to %s: %s", path, strerror(errno));
        return -1;
    }
    char secret[AUTH_SECRET_MAX + 1];
    store_token t;
    make_token("admin", "admin", secret, &t);
    size_t len = strlen(secret);
    secret[len] = '\n';
    int ok = fchmod(fd, 0600) == 0 && write(fd, secret, len + 1) == (ssize_t)(len + 1)
             && fsync(fd) == 0;
    close(fd);
    sodium_memzero(secret, sizeof secret);
    if (!ok) {
        snprintf(err, errlen, "cannot write the admin token to %s: %s", path, strerror(errno));
        return -1;
    }
    if (st->ops->add_token(st, &t) != STORE_OK) {
        snprintf(err, errlen, "cannot store the admin token: %s", store_error());
        return -1;
    }
    *created = 1;
    return 0;
}
