/*
 * webhook.h: delivering alerts to configured URLs by HTTP POST (JSON
 * body), retrying failures with growing pauses.
 *
 * The work list is the store's outbox (store.h, deliveries): an alert's
 * deliveries are written in the transaction that stores it, so none is
 * lost when the process is killed, and a restart (or another node) picks
 * up whatever is due. One thread per process claims due deliveries, one
 * at a time, POSTs the alert as stored then, and records the outcome.
 */
#ifndef ANPR_WEBHOOK_H
#define ANPR_WEBHOOK_H

#include "store.h"

#include <stddef.h>

typedef struct webhook webhook;

/*
 * Checks urls[0..n) (http:// only), makes st record a delivery to each for
 * every new alert (store_set_webhooks: urls must outlive st) and starts the
 * sender. attempts is how many tries each delivery gets; the pause doubles
 * from one second between them. NULL with a message in err when a URL is
 * unusable or the thread will not start.
 */
webhook *webhook_start(store *st, char *const *urls, int n, int attempts,
                       char *err, size_t errlen);

/* Tells the sender that new alerts were stored, so it looks at once
 * instead of at its next poll. */
void webhook_poke(webhook *w);

/* Stops the sender, after the POST in flight if any, and frees it. What
 * is still due stays in the store for the next start. */
void webhook_stop(webhook *w);

#endif
