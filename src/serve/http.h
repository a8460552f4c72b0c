/*
 * http.h: the HTTP server under the API, a thin layer over libmicrohttpd.
 *
 * It collects each request's body up to a size limit (larger bodies are
 * answered 413 without being read), drops clients that stall longer than a
 * timeout, and hands complete requests to one handler, which answers with
 * exactly one of the reply calls below. Every connection has its own
 * thread, so a handler (or a stream) may block.
 */
#ifndef ANPR_HTTP_H
#define ANPR_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

/* One request, valid until its reply is sent. */
struct http_req {
    struct MHD_Connection *mc;
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* decoded, without the query string */
    char *body;                  /* NUL-terminated; NULL when empty */
    size_t body_len;
    void *user;                  /* for the handler: whatever it likes */
    int replied;
    int too_big;                 /* internal: the body passed the limit */
    size_t limit;                /* internal */
    size_t body_cap;             /* internal */
};

typedef void (*http_handler)(void *ctx, http_req *r);

/*
 * Listens on host:port (IPv4 dotted quad; port 0 picks a free one, see
 * http_port()). max_body caps request bodies; timeout_s drops a client idle
 * that long. On failure returns NULL with a message in err.
 */
http_server *http_start(const char *host, int port, size_t max_body,
                        int timeout_s, http_handler h, void *ctx, char *err,
                        size_t errlen);

/* The port the server is bound to. */
int http_port(const http_server *s);

/* Stops accepting, waits for every connection's thread, frees. */
void http_stop(http_server *s);

/* A query-string argument or a request header; NULL when absent. */
const char *http_arg(http_req *r, const char *key);
const char *http_header(http_req *r, const char *name);

/* Answers with JSON (takes the reference to body). */
void http_json(http_req *r, unsigned status, json_t *body);

/* Answers {"error": "..."} with the status. */
void http_error(http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers with bytes of the given type; takes data (from malloc). */
void http_bytes(http_req *r, unsigned status, const char *type, void *data,
                size_t len);

/*
 * Answers with a body of unknown length produced by fill(ctx, buf, max),
 * which may block and returns the bytes it wrote (> 0) or -1 to end the
 * body. done(ctx) runs once the connection is finished with it.
 */
void http_stream(http_req *r, const char *type,
                 ssize_t (*fill)(void *ctx, char *buf, size_t max),
                 void *ctx, void (*done)(void *ctx));

#endif
