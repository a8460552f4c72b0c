/*
 * strmap.c: string-keyed hash map; see strmap.h.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys, good enough spread, no setup. */
static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static strmap_slot *find(const strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && !strcmp(s->key, key)))
            return s;
    }
}

int strmap_get(const strmap *m, const char *key, int64_t *value)
{
    if (!m->cap)
        return 0;
    strmap_slot *s = find(m, key, hash_of(key));
    if (!s->key)
        return 0;
    *value = s->value;
    return 1;
}

static int grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            *find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
    free(old.slots);
    return 0;
}

int strmap_set(strmap *m, const char *key, int64_t value)
{
    /* Kept at most half full so probes stay short. */
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return -1;
    uint64_t h = hash_of(key);
    strmap_slot *s = find(m, key, h);
    if (!s->key) {
        s->key = key;
        s->hash = h;
        m->n++;
    }
    s->value = value;
    return 0;
}

void strmap_free(strmap *m)
{
    free(m->slots);
    *m = (strmap){ 0 };
}
