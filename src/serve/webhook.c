/*
 * webhook.c: the delivery thread over the store's outbox; see webhook.h.
 */
#include "webhook.h"

#include "httpc.h"
#include "jsonout.h"
#include "when.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a claimed delivery is ours: well past one POST's 5 s timeout,
 * so a live claim never lapses; a dead node's is retried after this. */
#define WEBHOOK_LEASE_MS 30000
/* Due deliveries are looked for this often besides when poked: retries
 * fall due, and other nodes may record deliveries for us to send. */
#define WEBHOOK_POLL_MS 1000
/* Pauses double up to 2^20 s (12 days), where a 64-bit time is still far. */
#define WEBHOOK_MAX_DOUBLINGS 20

struct webhook {
    store *st;
    int attempts;
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* CLOCK_MONOTONIC; poke or stop */
    int poked, stopping;
    pthread_t thread;
};

/* POSTs the alert to the URL; 0 on a 2xx answer, else -1 and why in err. */
static int post(const store_delivery *d, char *err, size_t errlen)
{
    json_t *j = alert_json(&d->alert);
    char *json = j ? json_dumps(j, JSONOUT_FLAGS) : NULL;
    json_decref(j);
    if (!json) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    httpc_resp resp;
    int rc = httpc_request(d->url, "", "POST", NULL, "application/json", json,
                           strlen(json), 5000, &resp, err, errlen);
    free(json);
    if (rc)
        return -1;
    free(resp.body);
    if (resp.status >= 200 && resp.status < 300)
        return 0;
    snprintf(err, errlen, "answered %d", resp.status);
    return -1;
}

/* Claims one due delivery, tries it and records how it went. STORE_OK
 * when there may be more to do. */
static store_code deliver_one(webhook *w)
{
    store_delivery d;
    store_code rc = w->st->ops->claim_delivery(w->st, when_now_ms(),
                                               WEBHOOK_LEASE_MS, &d);
    if (rc != STORE_OK) {
        if (rc != STORE_NOTFOUND)
            fprintf(stderr, "anpr serve: webhook: %s\n", store_error());
        return rc;
    }
    char err[256];
    int failed = post(&d, err, sizeof err);
    int64_t now = when_now_ms(), retry = 0;
    int doublings = d.attempt - 1 < WEBHOOK_MAX_DOUBLINGS
                  ? d.attempt - 1 : WEBHOOK_MAX_DOUBLINGS;
    if (failed && d.attempt < w->attempts)
        retry = now + (1000LL << doublings);
    rc = w->st->ops->finish_delivery(w->st, &d, now, retry, failed ? err : NULL);
    /* Said once recorded, so the log never runs ahead of the store. */
    if (rc != STORE_OK)
        fprintf(stderr, "anpr serve: webhook: alert %lld: %s\n",
                (long long)d.alert.id, store_error());
    else if (failed)
        fprintf(stderr, "anpr serve: webhook %s: alert %lld: %s (attempt %d of %d%s)\n",
                d.url, (long long)d.alert.id, err, d.attempt, w->attempts,
                retry ? "" : ", given up");
    return STORE_OK;
}

static void *sender(void *arg)
{
    webhook *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        w->poked = 0;
        pthread_mutex_unlock(&w->lock);
        int more = 1;
        while (more) {
            more = deliver_one(w) == STORE_OK;
            pthread_mutex_lock(&w->lock);
            more &= !w->stopping;
            pthread_mutex_unlock(&w->lock);
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += WEBHOOK_POLL_MS / 1000;
        pthread_mutex_lock(&w->lock);
        while (!w->stopping && !w->poked
               && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

webhook *webhook_start(store *st, char *const *urls, int n, int attempts,
                       char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(urls[i], "http://", 7)) {
            snprintf(err, errlen, "webhook '%s': only http:// URLs are supported", urls[i]);
            return NULL;
        }
        if (strlen(urls[i]) >= STORE_URL_MAX) {
            snprintf(err, errlen, "webhook URL longer than %d characters",
                     STORE_URL_MAX - 1);
            return NULL;
        }
    }
    webhook *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->st = st;
    w->attempts = attempts > 0 ? attempts : 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    store_set_webhooks(st, urls, n);
    if (pthread_create(&w->thread, NULL, sender, w)) {
        snprintf(err, errlen, "cannot start the webhook thread");
        store_set_webhooks(st, NULL, 0);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    return w;
}

void webhook_poke(webhook *w)
{
    pthread_mutex_lock(&w->lock);
    w->poked = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void webhook_stop(webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}
