/*
 * auth.h: bearer tokens. A token is 32 random bytes written as
 * "anpr_" + 64 hex digits; the store keeps only its SHA-256, so a copy of
 * the database gives no one access.
 */
#ifndef ANPR_AUTH_H
#define ANPR_AUTH_H

#include "store.h"

#define AUTH_SECRET_MAX 72

/* Makes and stores a token for name with role ("admin" or "user"); writes
 * the secret (shown once) to secret. */
store_code auth_new_token(store *st, const char *name, const char *role,
                          char secret[AUTH_SECRET_MAX]);

/*
 * Checks an Authorization header ("Bearer SECRET"). Returns STORE_OK with
 * *who filled, STORE_NOTFOUND when it is missing, malformed or unknown, or
 * STORE_ERR when the store failed.
 */
store_code auth_check(store *st, const char *header, store_token *who);

/*
 * On a first start (no tokens stored) makes an "admin" token and writes it
 * to path, readable by the owner only (mode 0600). *created says whether
 * it did. Returns 0, or -1 with a message in err.
 */
int auth_first_start(store *st, const char *path, int *created, char *err,
                     size_t errlen);

#endif
