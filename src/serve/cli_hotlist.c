/*
 * cli_hotlist.c: `anpr hotlist`, hotlists and their entries through the API.
 */
#include "client.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hotlist_usage[] =
    "usage: anpr hotlist list\n"
    "       anpr hotlist create NAME [--priority N] [--fuzzy N] [--description TEXT]\n"
    "       anpr hotlist show NAME          (its live entries)\n"
    "       anpr hotlist add NAME VRM|PATTERN --reason TEXT [--priority N]\n"
    "                        [--expires TIME] [--source TEXT]\n"
    "       anpr hotlist remove NAME ENTRY_ID\n"
    "       anpr hotlist import NAME FILE.csv\n"
    "       anpr hotlist delete NAME\n"
    "\n"
    "--fuzzy N lets reads within N OCR-lookalike substitutions match the list.\n"
    "A CSV import (columns vrm,reason[,priority[,expires[,source]]], header\n"
    "optional) is all or nothing: a bad row rejects the file with its line.\n"
    "\n"
    CLIENT_OPTIONS_HELP;

/* Reads a whole file into memory; NULL (printed) on failure. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f) {
        fprintf(stderr, "anpr hotlist: cannot open %s\n", path);
        return NULL;
    }
    for (;;) {
        if (*len + 65536 > cap) {
            char *b = realloc(buf, cap = *len + 65536 * 2);
            if (!b) {
                free(buf);
                fclose(f);
                fprintf(stderr, "anpr hotlist: out of memory reading %s\n", path);
                return NULL;
            }
            buf = b;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fprintf(stderr, "anpr hotlist: cannot read %s\n", path);
        return NULL;
    }
    return buf;
}

int cmd_hotlist(int argc, char **argv)
{
    static const client_field fields[] = {
        { "priority", 'i' }, { "fuzzy", 'i' }, { "description", 's' }, { "reason", 's' },
        { "expires", 's' }, { "source", 's' }, { NULL, 0 },
    };
    client c = { 0 };
    const char *w[3] = { NULL, NULL, NULL };
    int status = 2;
    json_t *body = json_object();
    int nw = client_parse(&c, argc, argv, "anpr hotlist", hotlist_usage,
                          NULL, NULL, 0, fields, body, w, 3);
    if (nw < 0) {
        status = nw == -1 ? 0 : 2;
        goto out;
    }
    static const struct {
        const char *verb;
        int words;
        const char *method, *fmt;
    } verbs[] = {
        { "list", 1, "GET", "/api/v1/hotlists" },
        { "create", 2, "PUT", "/api/v1/hotlists/%s" },
        { "show", 2, "GET", "/api/v1/hotlists/%s/entries" },
        { "add", 3, "POST", "/api/v1/hotlists/%s/entries" },
        { "remove", 3, "DELETE", "/api/v1/hotlists/%s/entries/%s" },
        { "import", 3, "POST", "/api/v1/hotlists/%s/import" },
        { "delete", 2, "DELETE", "/api/v1/hotlists/%s" },
    };
    size_t v = 0;
    while (v < sizeof verbs / sizeof *verbs && (!w[0] || strcmp(w[0], verbs[v].verb)
                                                 || nw != verbs[v].words))
        v++;
    if (v == sizeof verbs / sizeof *verbs) {
        fputs(hotlist_usage, stderr);
        goto out;
    }
    if (client_ready(&c))
        goto out;
    char path[512];
    snprintf(path, sizeof path, verbs[v].fmt, w[1] ? w[1] : "", w[2] ? w[2] : "");
    if (!strcmp(w[0], "import")) {
        size_t len;
        char *csv = slurp(w[2], &len);
        if (csv)
            status = client_call(&c, "POST", path, "text/csv", csv, len);
        free(csv);
    } else if (!strcmp(w[0], "create") || !strcmp(w[0], "add")) {
        if (!strcmp(w[0], "add"))
            json_object_set_new(body, strpbrk(w[2], "*?") ? "pattern" : "vrm",
                                json_string(w[2]));
        status = client_call_json(&c, verbs[v].method, path, body);
        body = NULL;
    } else {
        status = client_call(&c, verbs[v].method, path, NULL, NULL, 0);
    }
out:
    json_decref(body);
    return status;
}
