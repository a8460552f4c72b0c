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
    int status = 2;
    char query[1024] = "";
    json_t *body = json_object();
    int nw = client_parse(&c, argc, argv, "anpr alerts", alerts_usage,
                          keys, query, sizeof query, fields, body, w, 2);
    if (nw < 0) {
        status = nw == -1 ? 0 : 2;
        goto out;
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
