/*
 * server.c: the shared state of a serving process; see server.h.
 */
#include "server.h"

#include "when.h"

#include <stdlib.h>
#include <string.h>

int server_init(server *s, store *st)
{
    memset(s, 0, sizeof *s);
    s->st = st;
    s->max_batch = 1000;
    s->max_patch = 64 * 1024;
    s->max_overview = 512 * 1024;
    s->max_future_ms = 5 * 60 * 1000;
    s->wall_days = 90;
    s->retention_days = 365;
    s->lookback_days = 7;
    s->max_fuzzy = 2;
    pthread_rwlock_init(&s->mlock, NULL);
    pthread_mutex_init(&s->reload_lock, NULL);
    pthread_mutex_init(&s->camlock, NULL);
    return server_reload_hotlists(s, 1);
}

void server_free(server *s)
{
    matcher_free(s->m);
    for (size_t i = 0; i < s->cameras.cap; i++)
        free((char *)s->cameras.slots[i].key);
    strmap_free(&s->cameras);
    pthread_rwlock_destroy(&s->mlock);
    pthread_mutex_destroy(&s->reload_lock);
    pthread_mutex_destroy(&s->camlock);
}

int server_reload_hotlists(server *s, int force)
{
    int64_t gen;
    if (s->st->ops->hotlist_generation(s->st, &gen) != STORE_OK)
        return -1;
    pthread_mutex_lock(&s->reload_lock);
    pthread_rwlock_rdlock(&s->mlock);
    int stale = force || !s->m || gen != s->mgen;
    pthread_rwlock_unlock(&s->mlock);
    if (!stale) {
        pthread_mutex_unlock(&s->reload_lock);
        return 0;
    }
    /* Built outside the lock: matching goes on against the old one. */
    matcher *m = matcher_load(s->st, when_now_ms());
    if (!m) {
        pthread_mutex_unlock(&s->reload_lock);
        return -1;
    }
    pthread_rwlock_wrlock(&s->mlock);
    matcher *old = s->m;
    s->m = m;
    s->mgen = gen;
    pthread_rwlock_unlock(&s->mlock);
    pthread_mutex_unlock(&s->reload_lock);
    matcher_free(old);
    return 0;
}

int server_match(server *s, const char *vrm, const char *key, int64_t now_ms,
                 store_hit *hits, int max)
{
    pthread_rwlock_rdlock(&s->mlock);
    int n = matcher_match(s->m, vrm, key, now_ms, hits, max);
    pthread_rwlock_unlock(&s->mlock);
    return n;
}

int server_camera_known(server *s, const char *id)
{
    int64_t v;
    pthread_mutex_lock(&s->camlock);
    int known = strmap_get(&s->cameras, id, &v);
    pthread_mutex_unlock(&s->camlock);
    if (known)
        return 1;
    /* Another node may have registered it: ask the store, then remember. */
    store_camera c;
    store_code rc = s->st->ops->get_camera(s->st, id, &c);
    if (rc == STORE_NOTFOUND)
        return 0;
    if (rc != STORE_OK)
        return -1;
    char *key = strdup(id);
    pthread_mutex_lock(&s->camlock);
    if (key && !strmap_get(&s->cameras, key, &v) && strmap_set(&s->cameras, key, 1) == 0)
        key = NULL;
    pthread_mutex_unlock(&s->camlock);
    free(key);
    return 1;
}
