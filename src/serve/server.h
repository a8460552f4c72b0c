/*
 * server.h: the state one `anpr serve` process shares between its request
 * threads: the store, the limits it enforces, the hotlist matcher, the
 * camera registry's cache and the alert hub. Built by serve.c.
 */
#ifndef ANPR_SERVER_H
#define ANPR_SERVER_H

#include "hub.h"
#include "matcher.h"
#include "store.h"
#include "strmap.h"

#include <pthread.h>

typedef struct server {
    store *st;

    /* Limits and rules (set from options before serving). */
    int max_batch;               /* reads per POST */
    size_t max_patch;            /* bytes of a decoded patch image */
    size_t max_overview;         /* bytes of a decoded overview image */
    int64_t max_future_ms;       /* how far a read's time may be ahead */
    int wall_days;               /* older reads need an authorisation */
    int retention_days;          /* reads older than this are deleted */
    int lookback_days;           /* new entries are checked this far back */
    int max_fuzzy;               /* default substitutions for fuzzy search */

    pthread_rwlock_t mlock;      /* guards m and mgen */
    matcher *m;
    int64_t mgen;                /* hotlist generation m was built at */
    pthread_mutex_t reload_lock; /* one rebuild at a time */

    pthread_mutex_t camlock;     /* guards cameras */
    strmap cameras;              /* known camera IDs (keys owned) */

    hub *hub;
} server;

/* Sets defaults, loads the matcher. Returns 0, or -1 with store_error(). */
int server_init(server *s, store *st);
void server_free(server *s);

/*
 * Rebuilds the matcher when the store's hotlist generation moved (or
 * always, when force). Returns 0, or -1 with store_error() set.
 */
int server_reload_hotlists(server *s, int force);

/* Hotlist hits for one read (see matcher_match). */
int server_match(server *s, const char *vrm, const char *key, int64_t now_ms,
                 store_hit *hits, int max);

/* 1 when the camera is registered, 0 when not, -1 on a store failure. */
int server_camera_known(server *s, const char *id);

#endif
