/*
 * retention.h: deleting reads past the retention period (12 months by
 * default), provably: every run, even one that deletes nothing, leaves a
 * record in the hash-chained audit log with the cut-off and the count,
 * committed with the deletion it records (PostgreSQL writes one per day
 * partition dropped as well; see delete_reads_before in store.h).
 */
#ifndef ANPR_RETENTION_H
#define ANPR_RETENTION_H

#include "server.h"

/* Deletes reads older than s->retention_days before now_ms and audits it.
 * Returns 0 with *deleted set, or -1 with store_error() set. */
int retention_run(server *s, int64_t now_ms, int64_t *deleted);

#endif
