/*
 * main.c: the anpr command, a dispatcher to git-style subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "anpr.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"read", cmd_read, "read number plates in photos (JPEG, PNG)"},
    {"serve", cmd_serve, "run the back office: ingest, store, hotlists, alerts, search"},
    {"search", cmd_search, "search stored reads (through a back office)"},
    {"hotlist", cmd_hotlist, "manage lists of vehicles of interest"},
    {"cameras", cmd_cameras, "manage the camera registry"},
    {"alerts", cmd_alerts, "list and acknowledge alerts"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: anpr <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'anpr <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("anpr %s\n", ANPR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "anpr: '%s' is not a command\n", argv[1]);
    usage(stderr);
    return 2;
}
