/*
 * strmap.h: a hash map from strings to 64-bit values (open addressing,
 * linear probing). Keys are not copied: the caller keeps each key alive
 * and unchanged while the map holds it. Used by the hotlist matcher, where
 * a million entries must be found in well under a microsecond, and by the
 * camera registry's cache. Not thread-safe; callers lock.
 */
#ifndef ANPR_STRMAP_H
#define ANPR_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_slot {
    const char *key;             /* NULL: empty */
    uint64_t hash;
    int64_t value;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t cap;                  /* a power of two, or 0 */
    size_t n;
} strmap;

/* An empty map is all zeros: strmap m = {0}. */

/* Finds key; returns 1 and sets *value when present, else 0. */
int strmap_get(const strmap *m, const char *key, int64_t *value);

/* Sets key to value, adding it if absent. Returns 0, or -1 out of memory. */
int strmap_set(strmap *m, const char *key, int64_t value);

/* Frees the slots (not the keys). */
void strmap_free(strmap *m);

#endif
