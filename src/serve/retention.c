/*
 * retention.c: the retention sweep; see retention.h.
 */
#include "retention.h"

#include "when.h"

#include <stdio.h>
#include <string.h>

int retention_run(server *s, int64_t now_ms, int64_t *deleted)
{
    int64_t cutoff = now_ms - (int64_t)s->retention_days * WHEN_DAY_MS;
    store_audit a;
    memset(&a, 0, sizeof a);
    char when[32], query[96];
    when_format(cutoff, when);
    snprintf(query, sizeof query, "{\"before\":\"%s\"}", when);
    a.time_ms = now_ms;
    snprintf(a.who, sizeof a.who, "anpr serve");
    snprintf(a.action, sizeof a.action, "retention");
    snprintf(a.purpose, sizeof a.purpose, "reads are kept %d days", s->retention_days);
    a.query = query;
    a.result = "[]";
    /* The store appends the record in the deleting transaction: a separate
     * append could be lost to a crash after the deletion committed. */
    return s->st->ops->delete_reads_before(s->st, cutoff, &a, deleted) == STORE_OK
        ? 0 : -1;
}
