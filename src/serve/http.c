/*
 * http.c: libmicrohttpd glue: body collection with a size limit, timeouts,
 * and the reply helpers; see http.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_server {
    struct MHD_Daemon *d;
    http_handler handler;
    void *ctx;
    size_t max_body;
};

static void queue(http_req *r, unsigned status, struct MHD_Response *resp,
                  const char *type)
{
    if (!resp) {
        /* Out of memory: the connection is dropped, which clients retry. */
        r->replied = 1;
        return;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_queue_response(r->mc, status, resp);
    MHD_destroy_response(resp);
    r->replied = 1;
}

void http_bytes(http_req *r, unsigned status, const char *type, void *data,
                size_t len)
{
    queue(r, status, MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE),
          type);
}

void http_json(http_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!text) {
        static char oom[] = "{\"error\":\"out of memory\"}";
        queue(r, 500, MHD_create_response_from_buffer(sizeof oom - 1, oom,
                                                      MHD_RESPMEM_PERSISTENT),
              "application/json");
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room: the NUL becomes a newline */
    http_bytes(r, status, "application/json", text, n + 1);
}

void http_error(http_req *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_json(r, status, json_pack("{s:s}", "error", msg));
}

typedef struct stream {
    ssize_t (*fill)(void *ctx, char *buf, size_t max);
    void *ctx;
    void (*done)(void *ctx);
} stream;

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    ssize_t n = s->fill(s->ctx, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls)
{
    stream *s = cls;
    if (s->done)
        s->done(s->ctx);
    free(s);
}

void http_stream(http_req *r, const char *type,
                 ssize_t (*fill)(void *ctx, char *buf, size_t max),
                 void *ctx, void (*done)(void *ctx))
{
    stream *s = malloc(sizeof *s);
    if (!s) {
        if (done)
            done(ctx);
        http_error(r, 500, "out of memory");
        return;
    }
    *s = (stream){ fill, ctx, done };
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, s,
                                          stream_free);
    if (!resp) {
        stream_free(s);
        http_error(r, 500, "out of memory");
        return;
    }
    queue(r, 200, resp, type);
}

const char *http_arg(http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name);
}

/* Appends a piece of body, or marks the request too big. */
static void take_body(http_req *r, const char *data, size_t n)
{
    if (r->too_big || r->body_len + n > r->limit) {
        r->too_big = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        /* Doubling: a large body arrives in many small pieces. */
        size_t cap = (r->body_len + n + 1) * 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->too_big = 1;
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->mc = mc;
        r->method = method;
        r->path = url;
        r->limit = s->max_body;
        *con_cls = r;
        /* A body over the limit is read and dropped, so the client, still
         * sending, gets the 413 rather than a reset connection; one
         * declared far larger is refused before it is sent. */
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) / 8 > s->max_body) {
            r->too_big = 1;
            http_error(r, 413, "request body over the limit of %zu bytes", s->max_body);
        }
        return MHD_YES;
    }
    if (*data_size) {
        if (!r->replied)
            take_body(r, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->too_big)
        http_error(r, 413, "request body over the limit of %zu bytes", s->max_body);
    else
        s->handler(s->ctx, r);
    if (!r->replied)
        http_error(r, 500, "no answer");
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)mc;
    (void)toe;
    http_req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

http_server *http_start(const char *host, int port, size_t max_body,
                        int timeout_s, http_handler h, void *ctx, char *err,
                        size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "cannot listen on '%s:%d': give an IPv4 address and port",
                 host, port);
        return NULL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->handler = h;
    s->ctx = ctx;
    s->max_body = max_body;
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                            | MHD_USE_POLL,
                            0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, 1000u,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not this host's address)",
                 host, port);
        free(s);
        return NULL;
    }
    return s;
}

int http_port(const http_server *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
