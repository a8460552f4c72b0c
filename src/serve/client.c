/*
 * client.c: the API clients' shared part; see client.h.
 */
#include "client.h"

#include "httpc.h"
#include "opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int client_option(client *c, int argc, char **argv, int *i)
{
    const char *v;
    int r;
    if ((r = opt_value(argc, argv, i, "--server", &v))) {
        if (r > 0)
            c->server = v;
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--token", &v))) {
        if (r > 0)
            snprintf(c->token, sizeof c->token, "%s", v);
        return r;
    }
    if ((r = opt_value(argc, argv, i, "--token-file", &v)) <= 0)
        return r;
    FILE *f = fopen(v, "r");
    if (!f || !fgets(c->token, sizeof c->token, f)) {
        fprintf(stderr, "anpr: cannot read a token from %s\n", v);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    c->token[strcspn(c->token, "\r\n")] = 0;
    return 1;
}

int client_ready(client *c)
{
    if (!c->server)
        c->server = getenv("ANPR_SERVER") ? getenv("ANPR_SERVER") : "http://127.0.0.1:8080";
    if (!c->token[0] && getenv("ANPR_TOKEN"))
        snprintf(c->token, sizeof c->token, "%s", getenv("ANPR_TOKEN"));
    if (!c->token[0]) {
        char *argv[] = { "", "--token-file", "anpr.db.token" };
        int i = 1;
        if (client_option(c, 3, argv, &i) < 0) {
            fprintf(stderr, "anpr: give --token, --token-file or $ANPR_TOKEN\n");
            return -1;
        }
    }
    return 0;
}

int client_call(client *c, const char *method, const char *path,
                const char *ctype, const char *body, size_t len)
{
    char err[256];
    httpc_resp r;
    if (httpc_request(c->server, path, method, c->token,
                      ctype ? ctype : "application/json", body, len, 30000, &r, err,
                      sizeof err)) {
        fprintf(stderr, "anpr: %s\n", err);
        return 1;
    }
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    int ok = r.status >= 200 && r.status < 300;
    if (!ok) {
        json_t *e = json_object_get(j, "error");
        fprintf(stderr, "anpr: %s answered %d: %s\n", c->server, r.status,
                json_is_string(e) ? json_string_value(e) : r.body);
    } else if (j) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        fwrite(r.body, 1, r.len, stdout);
    }
    json_decref(j);
    free(r.body);
    return ok ? 0 : 1;
}

int client_call_json(client *c, const char *method, const char *path, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        fprintf(stderr, "anpr: out of memory\n");
        return 1;
    }
    int rc = client_call(c, method, path, NULL, text, strlen(text));
    free(text);
    return rc;
}

int client_query(char *buf, size_t n, const char *key, const char *value)
{
    size_t len = strlen(buf);
    int w = snprintf(buf + len, n - len, "%c%s=", strchr(buf, '?') ? '&' : '?', key);
    if (w < 0 || (size_t)w >= n - len)
        return -1;
    len += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (len + 4 > n)
            return -1;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
            || (*p >= '0' && *p <= '9') || strchr("-._~*", *p))
            buf[len++] = (char)*p;
        else
            len += (size_t)snprintf(buf + len, n - len, "%%%02X", *p);
    }
    buf[len] = 0;
    return 0;
}

int client_query_option(int argc, char **argv, int *i, const char *const *keys,
                        char *q, size_t n)
{
    for (; *keys; keys++) {
        char name[64];
        snprintf(name, sizeof name, "--%s", *keys);
        for (char *p = name + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        const char *v;
        int r = opt_value(argc, argv, i, name, &v);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        if (client_query(q, n, *keys, v)) {
            fprintf(stderr, "anpr: %s is too long\n", name);
            return -1;
        }
        return 1;
    }
    return 0;
}

int client_body_option(int argc, char **argv, int *i, const client_field *fields,
                       json_t *body)
{
    for (; fields->key; fields++) {
        char name[64];
        const char *v;
        snprintf(name, sizeof name, "--%s", fields->key);
        int r = opt_value(argc, argv, i, name, &v);
        if (r <= 0) {
            if (r < 0)
                return -1;
            continue;
        }
        char *end;
        json_t *j = NULL;
        if (fields->kind == 's') {
            j = json_string(v);
        } else if (fields->kind == 'n') {
            double d = strtod(v, &end);
            j = *v && !*end ? json_real(d) : NULL;
        } else {
            long long n = strtoll(v, &end, 10);
            j = *v && !*end ? json_integer(n) : NULL;
        }
        if (!j) {
            fprintf(stderr, "anpr: %s wants %s\n", name,
                    fields->kind == 's' ? "UTF-8 text" : "a number");
            return -1;
        }
        json_object_set_new(body, fields->key, j);
        return 1;
    }
    return 0;
}

/* Prints "data:" lines of the event stream, one per line. */
typedef struct follow {
    char line[65536];
    size_t len;
} follow;

static int follow_bytes(void *ctx, const char *data, size_t n)
{
    follow *f = ctx;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (f->len + 1 < sizeof f->line)
                f->line[f->len++] = data[i];
            continue;
        }
        f->line[f->len] = 0;
        if (!strncmp(f->line, "data: ", 6)) {
            puts(f->line + 6);
            fflush(stdout);
        }
        f->len = 0;
    }
    return 0;
}

int client_follow(client *c, const char *path)
{
    char err[256];
    int status;
    follow *f = calloc(1, sizeof *f);
    if (!f)
        return 1;
    int rc = httpc_stream(c->server, path, c->token, 0, &status, follow_bytes, f, err,
                          sizeof err);
    free(f);
    if (rc) {
        fprintf(stderr, "anpr: %s\n", err);
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "anpr: %s answered %d\n", c->server, status);
        return 1;
    }
    return 0;
}

int client_parse(client *c, int argc, char **argv, const char *name, const char *usage,
                 const char *const *query_keys, char *query, size_t query_len,
                 const client_field *fields, json_t *body, const char **words,
                 int max_words)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return -1;
        }
        if ((r = client_option(c, argc, argv, &i))
            || (query_keys && (r = client_query_option(argc, argv, &i, query_keys, query, query_len)))
            || (r = client_body_option(argc, argv, &i, fields, body))) {
            if (r < 0)
                return -2;
            continue;
        }
        if (argv[i][0] == '-' || n == max_words) {
            fprintf(stderr, "%s: unexpected '%s' (see --help)\n", name, argv[i]);
            return -2;
        }
        words[n++] = argv[i];
    }
    return n;
}
