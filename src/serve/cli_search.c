/*
 * cli_search.c: `anpr search`, searching stored reads through the API.
 */
#include "client.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char search_usage[] =
    "usage: anpr search [VRM|PATTERN] [options]\n"
    "\n"
    "Searches stored reads, newest first. VRM is exact (AB12CDE) or a pattern\n"
    "(AB12*, ?B12CDE); --fuzzy also finds OCR lookalikes (0/O/D/Q, 1/I/L, ...).\n"
    "Every search is audited with who, why and what came back.\n"
    "\n"
    "  --fuzzy              match lookalikes, up to --max-subst of them (2)\n"
    "  --from TIME --to TIME  UTC, e.g. 2026-11-24T10:00:00Z\n"
    "  --camera ID          only reads from this camera\n"
    "  --limit N            rows per page (100); --before CURSOR for the next\n"
    "  --purpose TEXT --justification TEXT  why (recorded in the audit log)\n"
    "  --authorisation REF  needed for reads older than the access wall\n"
    CLIENT_OPTIONS_HELP;

int cmd_search(int argc, char **argv)
{
    static const char *const keys[] = { "from", "to", "camera", "limit", "before",
                                        "purpose", "justification", "authorisation",
                                        "max_subst", NULL };
    client c = { 0 };
    char path[4096] = "/api/v1/reads";
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(search_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--fuzzy")) {
            client_query(path, sizeof path, "fuzzy", "1");
            continue;
        }
        if ((r = client_option(&c, argc, argv, &i))
            || (r = client_query_option(argc, argv, &i, keys, path, sizeof path))) {
            if (r < 0)
                return 2;
            continue;
        }
        if (argv[i][0] == '-' || client_query(path, sizeof path, "vrm", argv[i])) {
            fprintf(stderr, "anpr search: unexpected '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (client_ready(&c))
        return 2;
    return client_call(&c, "GET", path, NULL, NULL, 0);
}
