/*
 * webhook.c: background delivery of alerts to webhook URLs; see webhook.h.
 */
#include "webhook.h"

#include "httpc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    struct job *next;
    char *json;
} job;

struct webhook {
    char **urls;
    int n;
    int attempts;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    int stopping;
    pthread_t thread;
};

/* Sleeps up to ms, or less if the sender is stopping. Returns stopping. */
static int pause_ms(webhook *w, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    int stop = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

/* Delivers one document to one URL, retrying; a 2xx answer is success. */
static void deliver(webhook *w, const char *url, const char *json)
{
    int wait = 1000;
    for (int a = 0; a < w->attempts; a++) {
        char err[256];
        httpc_resp resp;
        if (httpc_request(url, "", "POST", NULL, "application/json", json,
                          strlen(json), 5000, &resp, err, sizeof err) == 0) {
            free(resp.body);
            if (resp.status >= 200 && resp.status < 300)
                return;
            snprintf(err, sizeof err, "answered %d", resp.status);
        }
        fprintf(stderr, "anpr serve: webhook %s: %s (attempt %d of %d)\n", url,
                err, a + 1, w->attempts);
        if (a + 1 < w->attempts && pause_ms(w, wait))
            return;
        wait *= 2;
    }
}

static void *sender(void *arg)
{
    webhook *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        job *j = w->stopping ? NULL : w->head;
        if (j && !(w->head = j->next))
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        if (!j)
            return NULL;
        for (int i = 0; i < w->n; i++)
            deliver(w, w->urls[i], j->json);
        free(j->json);
        free(j);
    }
}

webhook *webhook_start(char *const *urls, int n, int attempts, char *err,
                       size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (strncmp(urls[i], "http://", 7)) {
            snprintf(err, errlen, "webhook '%s': only http:// URLs are supported", urls[i]);
            return NULL;
        }
    webhook *w = calloc(1, sizeof *w);
    if (!w || !(w->urls = calloc((size_t)n + 1, sizeof *w->urls))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        w->urls[i] = strdup(urls[i]);
    w->n = n;
    w->attempts = attempts > 0 ? attempts : 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, sender, w)) {
        snprintf(err, errlen, "cannot start the webhook thread");
        w->thread = 0;
        webhook_stop(w);
        return NULL;
    }
    return w;
}

void webhook_post(webhook *w, const char *json)
{
    job *j = malloc(sizeof *j);
    if (!j || !(j->json = strdup(json))) {
        free(j);
        fprintf(stderr, "anpr serve: webhook: out of memory, alert not queued\n");
        return;
    }
    j->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void webhook_stop(webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->thread)
        pthread_join(w->thread, NULL);
    while (w->head) {
        job *j = w->head;
        w->head = j->next;
        free(j->json);
        free(j);
    }
    for (int i = 0; i < w->n; i++)
        free(w->urls[i]);
    free(w->urls);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}
