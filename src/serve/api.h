/*
 * api.h: the JSON API, version 1: the router (api.c) and the handlers
 * (api_*.c), with the helpers they share. Every call needs a bearer token;
 * errors are {"error": "..."} with a 4xx or 5xx status.
 */
#ifndef ANPR_API_H
#define ANPR_API_H

#include "http.h"
#include "server.h"

#include <jansson.h>

/* One authenticated call being answered. */
typedef struct api_call {
    server *srv;
    http_req *r;
    const char *arg[2];          /* the route's {} path segments */
    store_token who;
} api_call;

/* The http_handler of the API; ctx is the server. */
void api_handle(void *ctx, http_req *r);

/* Answers with the status that fits rc and the store's message. */
void api_store_fail(api_call *c, store_code rc);

/* The body as a JSON object; otherwise answers 400 and returns NULL. */
json_t *api_body(api_call *c);

/*
 * Query-string arguments, checked: absent gives def (or leaves *out);
 * a bad one answers 400 and returns -1.
 */
int api_query_int(api_call *c, const char *key, int64_t def, int64_t min,
                  int64_t max, int64_t *out);
int api_query_time(api_call *c, const char *key, int64_t *out);

/*
 * The access rules every look into stored reads obeys: who asked is
 * known, purpose and justification are recorded, and a look reaching
 * further back than the access wall needs an authorisation reference.
 * Checks the request's purpose, justification and authorisation
 * arguments against *from_ms. Without an authorisation an unbounded look
 * (*from_ms 0) is narrowed to the wall, and one that names an older start
 * is answered 403 (returning -1).
 */
int api_access_check(api_call *c, int64_t *from_ms);

/*
 * Writes the audit record of one look: what was asked (query), how many
 * rows came back and their IDs (result, a JSON array). Returns 0, or
 * answers 500 and returns -1 (a look that cannot be audited is not shown).
 * Takes both references.
 */
int api_audit(api_call *c, const char *action, json_t *query, int64_t count,
              json_t *result);

/* Handlers, by file. */
void api_reads_post(api_call *c);        /* api_reads.c */
void api_reads_search(api_call *c);
void api_read_get(api_call *c);
void api_read_patch(api_call *c);
void api_read_overview(api_call *c);
void api_cameras_put(api_call *c);       /* api_cameras.c */
void api_cameras_get(api_call *c);
void api_cameras_list(api_call *c);
void api_hotlists_put(api_call *c);      /* api_hotlists.c */
void api_hotlists_get(api_call *c);
void api_hotlists_list(api_call *c);
void api_hotlists_delete(api_call *c);
void api_entries_post(api_call *c);
void api_entries_list(api_call *c);
void api_entries_delete(api_call *c);
void api_entries_import(api_call *c);
void api_alerts_list(api_call *c);       /* api_alerts.c */
void api_alerts_get(api_call *c);
void api_alerts_ack(api_call *c);
void api_alerts_stream(api_call *c);
void api_seen(api_call *c);              /* api_investigate.c */
void api_convoy(api_call *c);
void api_journeys(api_call *c);
void api_tokens_post(api_call *c);       /* api_admin.c */
void api_audit_list(api_call *c);
void api_audit_verify(api_call *c);

#endif
