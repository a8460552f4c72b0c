/*
 * matcher.c: in-memory hotlist matching; see matcher.h.
 */
#include "matcher.h"

#include "strmap.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An entry as matching needs it: a tenth of a store_entry's size. */
typedef struct m_entry {
    int64_t id;
    int64_t expires_ms;
    int priority;
    int list;                    /* index into lists */
    int is_pattern;
    int next_exact;              /* next entry with the same VRM, or -1 */
    int next_fuzzy;              /* next entry with the same key, or -1 */
    char vrm[STORE_VRM_MAX];
    char key[STORE_VRM_MAX];
    char *reason;
} m_entry;

struct matcher {
    store_hotlist *lists;
    int n_lists;
    m_entry *entries;
    size_t n, cap;
    strmap exact;                /* vrm -> first entry index */
    strmap fuzzy;                /* key -> first entry index */
    int *patterns;               /* entry indices of patterns */
    size_t n_patterns;
};

matcher *matcher_new(void)
{
    return calloc(1, sizeof(matcher));
}

int matcher_add_hotlist(matcher *m, const store_hotlist *h)
{
    store_hotlist *l = realloc(m->lists, (size_t)(m->n_lists + 1) * sizeof *l);
    if (!l)
        return -1;
    m->lists = l;
    l[m->n_lists++] = *h;
    return 0;
}

int matcher_add_entry(matcher *m, const store_entry *e)
{
    /* Hotlists are few (tens); entries are many and come list by list. */
    int list = m->n ? m->entries[m->n - 1].list : 0;
    if (list >= m->n_lists || strcmp(m->lists[list].name, e->hotlist))
        for (list = 0; list < m->n_lists && strcmp(m->lists[list].name, e->hotlist); list++)
            ;
    if (list == m->n_lists)
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        m_entry *n = realloc(m->entries, cap * sizeof *n);
        if (!n)
            return -1;
        m->entries = n;
        m->cap = cap;
    }
    m_entry *x = &m->entries[m->n];
    memset(x, 0, sizeof *x);
    x->id = e->id;
    x->expires_ms = e->expires_ms;
    x->priority = e->priority ? e->priority : m->lists[list].priority;
    x->list = list;
    x->is_pattern = e->is_pattern;
    x->next_exact = x->next_fuzzy = -1;
    snprintf(x->vrm, sizeof x->vrm, "%s", e->vrm);
    valid_key(x->vrm, x->key);
    if (!(x->reason = strdup(e->reason)))
        return -1;
    m->n++;
    return 0;
}

/* Puts entry i at the head of key's chain in map, its old head in *next. */
static int link(strmap *map, const char *key, int i, int *next)
{
    int64_t head;
    *next = strmap_get(map, key, &head) ? (int)head : -1;
    return strmap_set(map, key, i);
}

int matcher_seal(matcher *m)
{
    if (m->n && !(m->patterns = malloc(m->n * sizeof *m->patterns)))
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        m_entry *x = &m->entries[i];
        if (x->is_pattern) {
            m->patterns[m->n_patterns++] = (int)i;
            continue;
        }
        if (link(&m->exact, x->vrm, (int)i, &x->next_exact))
            return -1;
        if (m->lists[x->list].fuzzy > 0 && link(&m->fuzzy, x->key, (int)i, &x->next_fuzzy))
            return -1;
    }
    return 0;
}

/* Adds a hit for entry x unless hits are full. */
static int add_hit(const matcher *m, const m_entry *x, store_match how,
                   int subst, store_hit *hits, int n, int max)
{
    if (n >= max)
        return n;
    store_hit *h = &hits[n];
    h->entry_id = x->id;
    snprintf(h->hotlist, sizeof h->hotlist, "%s", m->lists[x->list].name);
    snprintf(h->entry_vrm, sizeof h->entry_vrm, "%s", x->vrm);
    h->match = how;
    h->substitutions = subst;
    h->priority = x->priority;
    snprintf(h->reason, sizeof h->reason, "%s", x->reason);
    return n + 1;
}

static int live(const m_entry *x, int64_t now_ms)
{
    return x->expires_ms == 0 || x->expires_ms > now_ms;
}

int matcher_match(const matcher *m, const char *vrm, const char *key,
                  int64_t now_ms, store_hit *hits, int max)
{
    int n = 0;
    int64_t i;
    if (strmap_get(&m->exact, vrm, &i))
        for (; i >= 0; i = m->entries[i].next_exact)
            if (live(&m->entries[i], now_ms))
                n = add_hit(m, &m->entries[i], STORE_MATCH_EXACT, 0, hits, n, max);
    if (strmap_get(&m->fuzzy, key, &i))
        for (; i >= 0; i = m->entries[i].next_fuzzy) {
            const m_entry *x = &m->entries[i];
            int subst = valid_substitutions(vrm, x->vrm);
            /* subst 0 is the exact match found above. */
            if (subst > 0 && subst <= m->lists[x->list].fuzzy && live(x, now_ms))
                n = add_hit(m, x, STORE_MATCH_FUZZY, subst, hits, n, max);
        }
    for (size_t p = 0; p < m->n_patterns; p++) {
        const m_entry *x = &m->entries[m->patterns[p]];
        if (valid_glob(x->vrm, vrm) && live(x, now_ms))
            n = add_hit(m, x, STORE_MATCH_PATTERN, 0, hits, n, max);
    }
    return n;
}

size_t matcher_size(const matcher *m)
{
    return m->n;
}

void matcher_free(matcher *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->entries[i].reason);
    free(m->entries);
    free(m->lists);
    free(m->patterns);
    strmap_free(&m->exact);
    strmap_free(&m->fuzzy);
    free(m);
}

/* Loading from the store: both listings feed the matcher directly. */
typedef struct load_ctx {
    matcher *m;
    int failed;
} load_ctx;

static int load_list(void *ctx, const store_hotlist *h)
{
    load_ctx *l = ctx;
    l->failed = matcher_add_hotlist(l->m, h) != 0;
    return l->failed;
}

static int load_entry(void *ctx, const store_entry *e)
{
    load_ctx *l = ctx;
    l->failed = matcher_add_entry(l->m, e) != 0;
    return l->failed;
}

matcher *matcher_load(store *st, int64_t now_ms)
{
    matcher *m = matcher_new();
    load_ctx l = { m, 0 };
    if (!m) {
        store_set_error("out of memory");
        return NULL;
    }
    if (st->ops->list_hotlists(st, load_list, &l) != STORE_OK
        || st->ops->list_entries(st, NULL, 0, now_ms, load_entry, &l) != STORE_OK
        || l.failed || matcher_seal(m)) {
        if (l.failed)
            store_set_error("out of memory loading hotlists");
        matcher_free(m);
        return NULL;
    }
    return m;
}
