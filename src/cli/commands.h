/*
 * commands.h: the subcommands of the anpr command. Each takes the
 * arguments after its own name (argv[0] is the subcommand) and returns the
 * process exit status. Each answers --help.
 */
#ifndef ANPR_COMMANDS_H
#define ANPR_COMMANDS_H

int cmd_read(int argc, char **argv);     /* src/cli/cmd_read.c */
int cmd_serve(int argc, char **argv);    /* src/serve/ */
int cmd_search(int argc, char **argv);   /* src/serve/ */
int cmd_hotlist(int argc, char **argv);  /* src/serve/ */
int cmd_cameras(int argc, char **argv);  /* src/serve/ */
int cmd_alerts(int argc, char **argv);   /* src/serve/ */

#endif
