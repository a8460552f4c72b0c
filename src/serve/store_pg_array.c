/*
 * store_pg_array.c: PostgreSQL's binary array format, for passing a whole
 * batch (reads, hits, hotlist entries) as a few array parameters to one
 * statement that unnest()s them. Binary means no quoting or escaping of the
 * values at all, and images travel as raw bytes.
 *
 * Layout (all integers big-endian): ndim=1, has-nulls flag, element OID,
 * element count, lower bound=1; then per element a 4-byte length (-1 for
 * NULL) and the element's binary form.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

static void put(pgs_array *a, const void *p, size_t n)
{
    if (a->failed)
        return;
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->n + n)
            cap *= 2;
        unsigned char *q = realloc(a->p, cap);
        if (!q) {
            a->failed = 1;
            return;
        }
        a->p = q;
        a->cap = cap;
    }
    if (n)
        memcpy(a->p + a->n, p, n);
    a->n += n;
}

static void put32(pgs_array *a, uint32_t v)
{
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    put(a, b, 4);
}

static void put64(pgs_array *a, uint64_t v)
{
    put32(a, (uint32_t)(v >> 32));
    put32(a, (uint32_t)v);
}

void pgs_array_begin(pgs_array *a, uint32_t elem_oid)
{
    a->n = 0;
    a->count = 0;
    a->failed = 0;
    put32(a, 1);
    put32(a, 1);                   /* may hold NULLs */
    put32(a, elem_oid);
    put32(a, 0);                   /* count: filled by pgs_array_end */
    put32(a, 1);
}

void pgs_array_bytes(pgs_array *a, const void *p, size_t n)
{
    a->count++;
    if (!p) {
        put32(a, 0xffffffffu);
        return;
    }
    put32(a, (uint32_t)n);
    put(a, p, n);
}

void pgs_array_text(pgs_array *a, const char *s)
{
    pgs_array_bytes(a, s, s ? strlen(s) : 0);
}

void pgs_array_int4(pgs_array *a, int32_t v)
{
    a->count++;
    put32(a, 4);
    put32(a, (uint32_t)v);
}

void pgs_array_int8(pgs_array *a, int64_t v)
{
    a->count++;
    put32(a, 8);
    put64(a, (uint64_t)v);
}

void pgs_array_float8(pgs_array *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    a->count++;
    put32(a, 8);
    put64(a, u);
}

int pgs_array_end(pgs_array *a)
{
    if (a->failed || a->n < 20) {
        store_set_error("out of memory building a batch");
        return -1;
    }
    uint32_t v = (uint32_t)a->count;
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    memcpy(a->p + 12, b, 4);
    return 0;
}

void pgs_array_free(pgs_array *a)
{
    free(a->p);
    a->p = NULL;
    a->n = a->cap = 0;
}
