/*
 * httpc.c: the small HTTP client; see httpc.h. Bodies may come with a
 * Content-Length, chunked, or up to the close; one decoder handles all
 * three as bytes arrive, so streams and whole answers share it.
 */
#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Splits "http://host[:port][/prefix]". */
static int parse_base(const char *base, char *host, size_t hostlen, char *port,
                      const char **prefix)
{
    if (strncmp(base, "http://", 7))
        return -1;
    const char *h = base + 7;
    const char *end = h + strcspn(h, ":/");
    if (end == h || (size_t)(end - h) >= hostlen)
        return -1;
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = 0;
    strcpy(port, "80");
    if (*end == ':') {
        const char *p = ++end;
        while (*end >= '0' && *end <= '9')
            end++;
        if (end == p || end - p > 5)
            return -1;
        memcpy(port, p, (size_t)(end - p));
        port[end - p] = 0;
    }
    if (*end && *end != '/')
        return -1;
    *prefix = end;
    return 0;
}

static int dial(const char *host, const char *port, int timeout_ms, char *err,
                size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (timeout_ms > 0) {
            /* On Linux the send timeout bounds connect() too. */
            struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen)) {
            snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The body decoder: state between reads. */
typedef struct decoder {
    int in_head;                 /* still reading the status and headers */
    char head[8192];
    size_t head_len;
    int status;
    int chunked;
    long long remaining;         /* of the body or the current chunk; -1: to close */
    int chunk_state;             /* 0 size line, 1 data, 2 CRLF after data, 3 done */
    char line[32];
    size_t line_len;
    int (*each)(void *ctx, const char *data, size_t n);
    void *ctx;
    int stop;
} decoder;

/* Parses the head once complete; the rest of buf is body. */
static int parse_head(decoder *d)
{
    if (sscanf(d->head, "HTTP/1.%*d %d", &d->status) != 1)
        return -1;
    d->remaining = -1;
    for (char *l = strstr(d->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (!strncasecmp(h, "Content-Length:", 15))
            d->remaining = strtoll(h + 15, NULL, 10);
        else if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked")
                 && strstr(h, "chunked") < strstr(h, "\r\n"))
            d->chunked = 1;
    }
    return 0;
}

static void emit(decoder *d, const char *p, size_t n)
{
    if (n && !d->stop)
        d->stop = d->each(d->ctx, p, n);
}

/* Feeds received bytes; returns 1 when the body is complete, -1 on junk. */
static int feed(decoder *d, const char *p, size_t n)
{
    while (n && !d->stop) {
        if (d->in_head) {
            if (d->head_len + 1 >= sizeof d->head)
                return -1;
            d->head[d->head_len++] = *p++;
            n--;
            d->head[d->head_len] = 0;
            if (d->head_len >= 4 && !strcmp(d->head + d->head_len - 4, "\r\n\r\n")) {
                d->in_head = 0;
                if (parse_head(d))
                    return -1;
                if (!d->chunked && d->remaining == 0)
                    return 1;
            }
            continue;
        }
        if (!d->chunked) {
            size_t take = d->remaining < 0 || (long long)n < d->remaining ? n : (size_t)d->remaining;
            emit(d, p, take);
            p += take;
            n -= take;
            if (d->remaining >= 0 && (d->remaining -= (long long)take) == 0)
                return 1;
            continue;
        }
        switch (d->chunk_state) {
        case 0: case 2:
            if (*p == '\n') {
                d->line[d->line_len] = 0;
                if (d->chunk_state == 0) {
                    char *end;
                    d->remaining = strtoll(d->line, &end, 16);
                    if (end == d->line || d->remaining < 0)
                        return -1;
                    d->chunk_state = d->remaining ? 1 : 3;
                    if (d->chunk_state == 3)
                        return 1;
                } else {
                    d->chunk_state = 0;
                }
                d->line_len = 0;
            } else if (*p != '\r') {
                if (d->line_len + 1 >= sizeof d->line)
                    return -1;
                d->line[d->line_len++] = *p;
            }
            p++;
            n--;
            break;
        case 1: {
            size_t take = (long long)n < d->remaining ? n : (size_t)d->remaining;
            emit(d, p, take);
            p += take;
            n -= take;
            if ((d->remaining -= (long long)take) == 0)
                d->chunk_state = 2;
            break;
        }
        default:
            return 1;
        }
    }
    return 0;
}

/* Sends the request and runs the decoder to the end of the body. */
static int exchange(const char *base, const char *path, const char *method,
                    const char *token, const char *ctype, const void *body,
                    size_t len, int timeout_ms, decoder *d, char *err,
                    size_t errlen)
{
    char host[256], port[8];
    const char *prefix;
    if (parse_base(base, host, sizeof host, port, &prefix)) {
        snprintf(err, errlen, "'%s' is not an http://host[:port] address", base);
        return -1;
    }
    int fd = dial(host, port, timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    char head[2048];
    int hl = snprintf(head, sizeof head,
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                      "User-Agent: anpr\r\n%s%s%s",
                      method, prefix, path, host, port,
                      token ? "Authorization: Bearer " : "", token ? token : "",
                      token ? "\r\n" : "");
    if (body && hl > 0 && (size_t)hl < sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl,
                       "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, len);
    if (hl > 0 && (size_t)hl < sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    if (hl <= 0 || (size_t)hl >= sizeof head) {
        snprintf(err, errlen, "request too long");
        close(fd);
        return -1;
    }
    if (send_all(fd, head, (size_t)hl) || (body && send_all(fd, body, len))) {
        /* The server may have answered (413) and stopped reading: its
         * answer is still worth reading, so only give up if none comes. */
        shutdown(fd, SHUT_WR);
    }
    d->in_head = 1;
    int done = 0;
    char buf[16384];
    while (!done && !d->stop) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "no answer from %s:%s: %s", host, port,
                     errno == EAGAIN ? "timed out" : strerror(errno));
            break;
        }
        if (r == 0) {
            /* A close ends a body without length; otherwise it is cut short. */
            done = !d->in_head && !d->chunked && d->remaining < 0 ? 1 : -1;
            if (done < 0)
                snprintf(err, errlen, "%s:%s closed the connection early", host, port);
            break;
        }
        done = feed(d, buf, (size_t)r);
        if (done < 0)
            snprintf(err, errlen, "%s:%s sent a malformed answer", host, port);
    }
    close(fd);
    return done == 1 || d->stop ? 0 : -1;
}

typedef struct buffer {
    char *p;
    size_t len, cap;
    int oom;
} buffer;

static int append(void *ctx, const char *data, size_t n)
{
    buffer *b = ctx;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return 1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int httpc_request(const char *base, const char *path, const char *method,
                  const char *token, const char *ctype, const void *body,
                  size_t len, int timeout_ms, httpc_resp *out, char *err,
                  size_t errlen)
{
    buffer b = { 0 };
    decoder *d = calloc(1, sizeof *d);
    memset(out, 0, sizeof *out);
    if (!d || append(&b, "", 0)) {
        free(d);
        free(b.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->each = append;
    d->ctx = &b;
    int rc = exchange(base, path, method, token, ctype, body, len, timeout_ms, d,
                      err, errlen);
    if (rc == 0 && b.oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0) {
        out->status = d->status;
        out->body = b.p;
        out->len = b.len;
    } else {
        free(b.p);
    }
    free(d);
    return rc;
}

int httpc_stream(const char *base, const char *path, const char *token,
                 int timeout_ms, int *status,
                 int (*each)(void *ctx, const char *data, size_t n), void *ctx,
                 char *err, size_t errlen)
{
    decoder *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->each = each;
    d->ctx = ctx;
    int rc = exchange(base, path, "GET", token, NULL, NULL, 0, timeout_ms, d, err, errlen);
    *status = d->status;
    free(d);
    return rc;
}
