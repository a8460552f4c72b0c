/*
 * hub.c: the alert watcher; see hub.h.
 */
#include "hub.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct hub {
    store *st;
    webhook *wh;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* broadcast when latest moves or on stop */
    int64_t latest;
    int stopping;
    pthread_t thread;
};

static int newest(void *ctx, const store_alert *a)
{
    *(int64_t *)ctx = a->id;
    return 1;
}

/* Alerts up to id are committed: wakes the streams and the webhook sender
 * unless that was known already (the watcher reads back this process's
 * alerts after the hook has told of them). The store's alert hook. */
static void committed(void *ctx, int64_t id)
{
    hub *h = ctx;
    pthread_mutex_lock(&h->lock);
    int moved = id > h->latest;
    if (moved) {
        h->latest = id;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
    if (moved && h->wh)
        webhook_poke(h->wh);
}

/* Called by wait_alerts for each new alert, oldest first. */
static int seen(void *ctx, const store_alert *a)
{
    committed(ctx, a->id);
    return 0;
}

static void *watch(void *arg)
{
    hub *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        int64_t after = h->latest;
        int stop = h->stopping;
        pthread_mutex_unlock(&h->lock);
        if (stop)
            return NULL;
        if (h->st->ops->wait_alerts(h->st, after, 500, seen, h) != STORE_OK) {
            /* The store is away (PostgreSQL restarting): try again soon. */
            struct timespec ts = { 0, 200000000L };
            nanosleep(&ts, NULL);
        }
    }
}

hub *hub_start(store *st, webhook *wh)
{
    hub *h = calloc(1, sizeof *h);
    if (!h) {
        store_set_error("out of memory");
        return NULL;
    }
    h->st = st;
    h->wh = wh;
    store_alert_query q = { .limit = 1 };
    if (st->ops->list_alerts(st, &q, newest, &h->latest) != STORE_OK) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thread, NULL, watch, h)) {
        store_set_error("cannot start the alert watcher thread");
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cond);
        free(h);
        return NULL;
    }
    store_set_alert_hook(st, committed, h);
    return h;
}

int64_t hub_latest(hub *h)
{
    pthread_mutex_lock(&h->lock);
    int64_t v = h->latest;
    pthread_mutex_unlock(&h->lock);
    return v;
}

int64_t hub_wait(hub *h, int64_t after_id, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && h->latest <= after_id
           && pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
        ;
    int64_t v = h->stopping ? -1 : h->latest;
    pthread_mutex_unlock(&h->lock);
    return v;
}

void hub_stop(hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void hub_free(hub *h)
{
    if (!h)
        return;
    pthread_join(h->thread, NULL);
    store_set_alert_hook(h->st, NULL, NULL);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}
