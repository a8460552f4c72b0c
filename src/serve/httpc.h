/*
 * httpc.h: a small HTTP/1.1 client over a plain socket, for http:// URLs
 * only: webhook deliveries and the command-line clients (anpr search,
 * hotlist, cameras, alerts) use it. One request per connection.
 */
#ifndef ANPR_HTTPC_H
#define ANPR_HTTPC_H

#include <stddef.h>

typedef struct httpc_resp {
    int status;                  /* HTTP status, e.g. 200 */
    char *body;                  /* NUL-terminated, from malloc; caller frees */
    size_t len;
} httpc_resp;

/*
 * Sends one request. base is "http://host[:port]" with an optional path
 * prefix, path is appended ("" for none). token (unless NULL) goes in an
 * Authorization: Bearer header; body (unless NULL) is sent with type ctype.
 * timeout_ms bounds each wait on the network. Returns 0 with *out filled
 * (whatever the status), or -1 with a message in err when no answer came.
 */
int httpc_request(const char *base, const char *path, const char *method,
                  const char *token, const char *ctype, const void *body,
                  size_t len, int timeout_ms, httpc_resp *out, char *err,
                  size_t errlen);

/*
 * Like httpc_request with GET, but hands the body to each(ctx, data, n) as
 * it arrives, until the server closes, each returns nonzero, or no byte
 * comes for timeout_ms (0: wait for ever). *status gets the HTTP status.
 * For event streams. Returns 0, or -1 with a message in err.
 */
int httpc_stream(const char *base, const char *path, const char *token,
                 int timeout_ms, int *status,
                 int (*each)(void *ctx, const char *data, size_t n), void *ctx,
                 char *err, size_t errlen);

#endif
