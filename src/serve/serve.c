/*
 * serve.c: `anpr serve`, the back office: opens the store, makes the
 * first admin token, starts the alert hub, webhooks and the HTTP API, and
 * then keeps house (hotlist changes from other nodes, retention) until
 * SIGINT or SIGTERM.
 */
#include "api.h"
#include "auth.h"
#include "commands.h"
#include "opt.h"
#include "retention.h"
#include "when.h"

#include <signal.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_WEBHOOKS 16

static const char serve_usage[] =
    "usage: anpr serve [options]\n"
    "\n"
    "Runs the back office: receives reads over HTTP, stores them, matches\n"
    "them against hotlists, raises alerts and answers searches.\n"
    "\n"
    "  --db URL             store: a file path or sqlite:PATH[?sync=full] (SQLite,\n"
    "                       default ./anpr.db) or postgres://user@host/db\n"
    "  --listen HOST:PORT   address to serve on (default 127.0.0.1:8080; port 0\n"
    "                       picks a free one)\n"
    "  --token-file PATH    where a first start writes the admin token\n"
    "                       (default: the SQLite path + \".token\", or\n"
    "                       ./anpr-admin.token for PostgreSQL)\n"
    "  --webhook URL        POST every new alert to this http:// URL (repeatable;\n"
    "                       kept in the store until sent; give nodes on one\n"
    "                       database the same list: each alert goes once)\n"
    "  --webhook-attempts N tries per delivery, pauses doubling from 1 s (5)\n"
    "  --max-body BYTES     largest request body; larger get 413 (33554432)\n"
    "  --max-batch N        most reads in one POST (1000)\n"
    "  --timeout SECONDS    drop clients idle this long (30)\n"
    "  --lookback-days N    check new hotlist entries against reads this old (7)\n"
    "  --access-days N      reads older than this need an authorisation (90)\n"
    "  --retention-days N   delete reads older than this, hourly (365)\n"
    "  --help               this text\n"
    "\n"
    "Every API call needs 'Authorization: Bearer TOKEN'. SQLite commits are\n"
    "durable against the process being killed (WAL, synchronous=NORMAL); add\n"
    "?sync=full for power-loss durability at some cost in speed.\n";

typedef struct serve_opts {
    const char *db, *listen, *token_file;
    char *webhooks[MAX_WEBHOOKS];
    int n_webhooks;
    long long webhook_attempts, max_body, max_batch, timeout, lookback, access, retention;
} serve_opts;

static int parse_opts(int argc, char **argv, serve_opts *o)
{
    *o = (serve_opts){ .db = "anpr.db", .listen = "127.0.0.1:8080",
                       .webhook_attempts = 5, .max_body = 32 << 20, .max_batch = 1000,
                       .timeout = 30, .lookback = 7, .access = 90, .retention = 365 };
    static const struct {
        const char *name;
        long long min, max;
        size_t off;
    } ints[] = {
        { "--webhook-attempts", 1, 100, offsetof(serve_opts, webhook_attempts) },
        { "--max-body", 1024, 1LL << 31, offsetof(serve_opts, max_body) },
        { "--max-batch", 1, 100000, offsetof(serve_opts, max_batch) },
        { "--timeout", 1, 3600, offsetof(serve_opts, timeout) },
        { "--lookback-days", 0, 3650, offsetof(serve_opts, lookback) },
        { "--access-days", 1, 3650, offsetof(serve_opts, access) },
        { "--retention-days", 1, 36500, offsetof(serve_opts, retention) },
    };
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(serve_usage, stdout);
            return 1;
        }
        if ((r = opt_value(argc, argv, &i, "--db", &o->db))
            || (r = opt_value(argc, argv, &i, "--listen", &o->listen))
            || (r = opt_value(argc, argv, &i, "--token-file", &o->token_file))) {
            if (r < 0)
                return -1;
            continue;
        }
        if ((r = opt_value(argc, argv, &i, "--webhook", &v))) {
            if (r < 0)
                return -1;
            if (o->n_webhooks == MAX_WEBHOOKS) {
                fprintf(stderr, "anpr serve: at most %d webhooks\n", MAX_WEBHOOKS);
                return -1;
            }
            o->webhooks[o->n_webhooks++] = (char *)v;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof ints / sizeof ints[0]; k++) {
            if (!(r = opt_value(argc, argv, &i, ints[k].name, &v)))
                continue;
            if (r < 0 || opt_int(ints[k].name, v, ints[k].min, ints[k].max,
                                 (long long *)((char *)o + ints[k].off)))
                return -1;
            break;
        }
        if (k == sizeof ints / sizeof ints[0]) {
            fprintf(stderr, "anpr serve: unknown option '%s' (see anpr serve --help)\n",
                    argv[i]);
            return -1;
        }
    }
    return 0;
}

/* "HOST:PORT" into its parts. */
static int split_listen(const char *s, char host[64], int *port)
{
    const char *colon = strrchr(s, ':');
    long long p;
    if (!colon || colon == s || (size_t)(colon - s) >= 64
        || opt_int("--listen port", colon + 1, 0, 65535, &p))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)p;
    return 0;
}

/* The default token file: beside the SQLite file, or here for PostgreSQL. */
static void default_token_file(const char *db, char *out, size_t n)
{
    if (!strncmp(db, "postgres://", 11) || !strncmp(db, "postgresql://", 13)) {
        snprintf(out, n, "anpr-admin.token");
        return;
    }
    if (!strncmp(db, "sqlite:", 7))
        db += 7;
    snprintf(out, n, "%.*s.token", (int)strcspn(db, "?"), db);
}

/* Until a stop signal: reload changed hotlists every second, sweep old
 * reads every hour. */
static void keep_house(server *s, const sigset_t *stop)
{
    int64_t next_sweep = 0;
    for (;;) {
        struct timespec second = { 1, 0 };
        int sig = sigtimedwait(stop, NULL, &second);
        if (sig == SIGINT || sig == SIGTERM)
            return;
        if (server_reload_hotlists(s, 0))
            fprintf(stderr, "anpr serve: reloading hotlists: %s\n", store_error());
        int64_t now = when_now_ms();
        if (now >= next_sweep) {
            int64_t deleted;
            if (retention_run(s, now, &deleted))
                fprintf(stderr, "anpr serve: retention: %s\n", store_error());
            else if (deleted)
                fprintf(stderr, "anpr serve: retention deleted %lld reads\n",
                        (long long)deleted);
            next_sweep = now + 3600 * 1000;
        }
    }
}

int cmd_serve(int argc, char **argv)
{
    serve_opts o;
    int r = parse_opts(argc, argv, &o);
    if (r)
        return r > 0 ? 0 : 2;
    char host[64], token_file[1024];
    int port;
    if (split_listen(o.listen, host, &port)) {
        fprintf(stderr, "anpr serve: --listen wants HOST:PORT, e.g. 127.0.0.1:8080\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "anpr serve: libsodium would not start\n");
        return 1;
    }
    if (o.token_file)
        snprintf(token_file, sizeof token_file, "%s", o.token_file);
    else
        default_token_file(o.db, token_file, sizeof token_file);

    /* Signals are taken by keep_house() alone: block them in every thread. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Reads are personal data: the database files, like the token file,
     * are for this user alone. */
    umask(077);
    store *st;
    if (store_open(o.db, &st) != STORE_OK) {
        fprintf(stderr, "anpr serve: %s\n", store_error());
        return 1;
    }
    int status = 1, created;
    char err[512];
    server srv;
    webhook *wh = NULL;
    http_server *http = NULL;
    if (server_init(&srv, st)) {
        fprintf(stderr, "anpr serve: loading hotlists: %s\n", store_error());
        goto out;
    }
    srv.max_batch = (int)o.max_batch;
    srv.lookback_days = (int)o.lookback;
    srv.wall_days = (int)o.access;
    srv.retention_days = (int)o.retention;
    if (auth_first_start(st, token_file, &created, err, sizeof err)) {
        fprintf(stderr, "anpr serve: %s\n", err);
        goto out;
    }
    if (o.n_webhooks && !(wh = webhook_start(st, o.webhooks, o.n_webhooks,
                                             (int)o.webhook_attempts, err, sizeof err))) {
        fprintf(stderr, "anpr serve: %s\n", err);
        goto out;
    }
    if (!(srv.hub = hub_start(st, wh))) {
        fprintf(stderr, "anpr serve: %s\n", store_error());
        goto out;
    }
    http = http_start(host, port, (size_t)o.max_body, (int)o.timeout, api_handle, &srv,
                      err, sizeof err);
    if (!http) {
        fprintf(stderr, "anpr serve: %s\n", err);
        goto out;
    }
    printf("anpr serve: store %s (%s)\n", o.db, st->ops->name);
    if (created)
        printf("anpr serve: first start: admin token written to %s (mode 0600)\n", token_file);
    printf("anpr serve: listening on http://%s:%d/api/v1/\n", host, http_port(http));
    fflush(stdout);
    keep_house(&srv, &stop);
    printf("anpr serve: stopping\n");
    status = 0;
out:
    /* Streams end when the hub stops; then connections can be joined. */
    hub_stop(srv.hub);
    http_stop(http);
    hub_free(srv.hub);
    webhook_stop(wh);
    server_free(&srv);
    st->ops->close(st);
    return status;
}
