/*
 * matcher.h: hotlists held in memory, so every incoming read is checked
 * against every live entry without touching the store.
 *
 * Exact entries sit in a hash map by VRM; entries of hotlists that allow
 * fuzzy matching also sit in one by lookalike key (valid_key()), so a read
 * finds its OCR-equivalent entries with one lookup and only counts the
 * substitutions of those; patterns are few and tested one by one. A
 * matcher is immutable once built, so any number of threads may match
 * against it at once; changes build a new one (matcher_load()).
 */
#ifndef ANPR_MATCHER_H
#define ANPR_MATCHER_H

#include "store.h"

typedef struct matcher matcher;

/* An empty matcher; NULL when out of memory. */
matcher *matcher_new(void);

/* Adds a hotlist; entries name it. Returns 0, or -1 out of memory. */
int matcher_add_hotlist(matcher *m, const store_hotlist *h);

/* Adds an entry of a hotlist added before (others are ignored). Returns 0,
 * or -1 out of memory. */
int matcher_add_entry(matcher *m, const store_entry *e);

/* Indexes what was added; matching needs it, and nothing may be added
 * after. Returns 0, or -1 out of memory. */
int matcher_seal(matcher *m);

/* Builds a matcher from every hotlist and unexpired entry in the store.
 * NULL on failure, with store_error() set. */
matcher *matcher_load(store *st, int64_t now_ms);

/*
 * Finds the live entries (not expired at now_ms) that `vrm` (with lookalike
 * key `key`) matches: exactly, by pattern, or within its hotlist's allowed
 * lookalike substitutions. Writes up to max hits and returns how many.
 */
int matcher_match(const matcher *m, const char *vrm, const char *key,
                  int64_t now_ms, store_hit *hits, int max);

/* Number of entries held. */
size_t matcher_size(const matcher *m);

void matcher_free(matcher *m);

#endif
