/*
 * cli_cameras.c: `anpr cameras`, the camera registry through the API.
 */
#include "client.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char cameras_usage[] =
    "usage: anpr cameras list\n"
    "       anpr cameras show ID\n"
    "       anpr cameras add ID [--name TEXT] [--lat DEG --lon DEG] [--bearing DEG]\n"
    "                          [--owner TEXT] [--purpose TEXT] [--installed TIME]\n"
    "\n"
    "Lists, shows, or registers (and updates) cameras. Reads must name a\n"
    "registered camera; --purpose records why it was installed.\n"
    "\n"
    CLIENT_OPTIONS_HELP;

int cmd_cameras(int argc, char **argv)
{
    static const client_field fields[] = {
        { "name", 's' }, { "owner", 's' }, { "purpose", 's' }, { "installed", 's' },
        { "lat", 'n' }, { "lon", 'n' }, { "bearing", 'n' }, { NULL, 0 },
    };
    client c = { 0 };
    const char *words[2] = { NULL, NULL };
    int status = 2;
    json_t *body = json_object();
    int nwords = client_parse(&c, argc, argv, "anpr cameras", cameras_usage,
                              NULL, NULL, 0, fields, body, words, 2);
    if (nwords < 0) {
        status = nwords == -1 ? 0 : 2;
        goto out;
    }
    int list = nwords == 1 && !strcmp(words[0], "list");
    int show = nwords == 2 && !strcmp(words[0], "show");
    int add = nwords == 2 && !strcmp(words[0], "add");
    if (!list && !show && !add) {
        fputs(cameras_usage, stderr);
        goto out;
    }
    if (client_ready(&c))
        goto out;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/cameras%s%.64s", list ? "" : "/", list ? "" : words[1]);
    if (add) {
        status = client_call_json(&c, "PUT", path, body);
        body = NULL;
    } else {
        status = client_call(&c, "GET", path, NULL, NULL, 0);
    }
out:
    json_decref(body);
    return status;
}
