/*
 * cli_alerts.c: `anpr alerts`, listing, acknowledging and following alerts
 * through the API.
 */
#include "client.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char alerts_usage[] =
    "usage: anpr alerts list [--unacked 1] [--hotlist NAME] [--limit N] [--before ID]\n"
    "       anpr alerts ack ID --outcome TEXT\n"
    "       anpr alerts follow [--hotlist NAME]   (one JSON line per new alert)\n"
    "\n"
    CLIENT_OPTIONS_HELP;

int cmd_alerts(int argc, char **argv)
{
    static const char *const keys[] = { "unacked", "hotlist", "limit", "before", "after",
                                        NULL };
    static const client_field fields[] = { { "outcome", 's' }, { NULL, 0 } };
    client c = { 0 };
    const char *w[2] = { NULL, NULL };
    int nw = 0, status = 2;
    char query[1024] = "";
    json_t *body = json_object();
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(alerts_usage, stdout);
            status = 0;
            goto out;
        }
        if ((r = client_option(&c, argc, argv, &i))
            || (r = client_query_option(argc, argv, &i, keys, query, sizeof query))
            || (r = client_body_option(argc, argv, &i, fields, body))) {
            if (r < 0)
                goto out;
            continue;
        }
        if (argv[i][0] == '-' || nw == 2) {
            fprintf(stderr, "anpr alerts: unexpected '%s' (see --help)\n", argv[i]);
            goto out;
        }
        w[nw++] = argv[i];
    }
    int list = nw == 1 && !strcmp(w[0], "list");
    int follow = nw == 1 && !strcmp(w[0], "follow");
    int ack = nw == 2 && !strcmp(w[0], "ack");
    if ((!list && !follow && !ack) || client_ready(&c)) {
        if (!list && !follow && !ack)
            fputs(alerts_usage, stderr);
        goto out;
    }
    char path[1200];
    if (ack) {
        snprintf(path, sizeof path, "/api/v1/alerts/%.32s/ack", w[1]);
        status = client_call_json(&c, "POST", path, body);
        body = NULL;
    } else {
        snprintf(path, sizeof path, "/api/v1/alerts%s%s", follow ? "/stream" : "", query);
        status = follow ? client_follow(&c, path) : client_call(&c, "GET", path, NULL, NULL, 0);
    }
out:
    json_decref(body);
    return status;
}
