/*
 * client.h: what the API's command-line clients (anpr search, hotlist,
 * cameras, alerts) share: where the server is and which token to use, one
 * call to the API, and printing its answer.
 */
#ifndef ANPR_CLIENT_H
#define ANPR_CLIENT_H

#include <jansson.h>
#include <stddef.h>

typedef struct client {
    const char *server;          /* http://host:port */
    char token[128];
} client;

/* The options every client takes, for --help texts. */
#define CLIENT_OPTIONS_HELP                                                     \
    "  --server URL       the back office (default $ANPR_SERVER or\n"          \
    "                     http://127.0.0.1:8080)\n"                             \
    "  --token TOKEN      bearer token (default $ANPR_TOKEN)\n"                 \
    "  --token-file PATH  read the token from a file (default anpr.db.token)\n"

/*
 * If argv[*i] is --server, --token or --token-file, takes it (advancing
 * *i) and returns 1; 0 if it is something else; -1 (printed) if broken.
 */
int client_option(client *c, int argc, char **argv, int *i);

/* Fills in defaults and reads the token; -1 (printed) when there is none. */
int client_ready(client *c);

/*
 * Calls the API: method on path (with its query string), with body (JSON
 * unless ctype says otherwise; NULL for none). Prints the answer's JSON to
 * stdout, or its error to stderr. Returns the exit status: 0 for 2xx, 1
 * otherwise.
 */
int client_call(client *c, const char *method, const char *path,
                const char *ctype, const char *body, size_t len);

/* Same with a JSON body (taking the reference). */
int client_call_json(client *c, const char *method, const char *path, json_t *body);

/*
 * Appends "&key=value" (or "?key=value" for the first) to a query string in
 * buf, escaping value. Returns -1 if it does not fit.
 */
int client_query(char *buf, size_t n, const char *key, const char *value);

/*
 * If argv[*i] is "--KEY VALUE" for one of keys (query names; an option's
 * '-' stands for the key's '_'), appends it to the query in q and returns
 * 1; 0 if not one of them; -1 (printed) if broken or too long.
 */
int client_query_option(int argc, char **argv, int *i, const char *const *keys,
                        char *q, size_t n);

/* An option that fills a field of a JSON request body. */
typedef struct client_field {
    const char *key;             /* body key; the option is "--" + key */
    char kind;                   /* 's' string, 'n' number, 'i' integer */
} client_field;

/*
 * If argv[*i] is one of fields (list ends with a NULL key), sets that key
 * in body and returns 1; 0 if not one of them; -1 (printed) if its value
 * is missing or not of the kind.
 */
int client_body_option(int argc, char **argv, int *i, const client_field *fields,
                       json_t *body);

/*
 * Parses a subcommand's arguments: --help (prints usage to stdout), the
 * connection options, query options named by query_keys (when not NULL)
 * into query, body options named by fields into body, and up to max_words
 * plain words into words. Returns the number of words; -1 after --help
 * (exit 0); -2 (printed; exit 2) for an argument it cannot take. `name` is
 * the command, for messages.
 */
int client_parse(client *c, int argc, char **argv, const char *name, const char *usage,
                 const char *const *query_keys, char *query, size_t query_len,
                 const client_field *fields, json_t *body, const char **words,
                 int max_words);

/* Streams server-sent events from path, printing each event's data line as
 * one JSON line, until the server ends it. Returns the exit status. */
int client_follow(client *c, const char *path);

#endif
