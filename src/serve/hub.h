/*
 * hub.h: where new alerts go once stored. It wakes the event streams
 * (which read the alerts from the store from their own position, so none
 * is lost or repeated) and pokes the webhook sender, whose work is in the
 * store already: for this process's alerts straight from the commit that
 * made them durable (the store's alert hook), for other nodes' from one
 * thread that waits on the store (store_ops.wait_alerts).
 */
#ifndef ANPR_HUB_H
#define ANPR_HUB_H

#include "store.h"
#include "webhook.h"

typedef struct hub hub;

/* Starts the watcher from the newest alert now stored and sets the store's
 * alert hook. wh may be NULL. NULL on failure with store_error() set. */
hub *hub_start(store *st, webhook *wh);

/* The highest alert id seen so far. */
int64_t hub_latest(hub *h);

/*
 * Waits until an alert past after_id is seen, timeout_ms pass, or the hub
 * stops. Returns the highest id seen, or -1 once the hub is stopping.
 */
int64_t hub_wait(hub *h, int64_t after_id, int timeout_ms);

/* Tells the watcher and every hub_wait to stop; returns at once. */
void hub_stop(hub *h);

/* Waits for the watcher to end, clears the store's alert hook and frees the
 * hub. Call hub_stop() first, and only once nothing waits in hub_wait() or
 * stores alerts any more. */
void hub_free(hub *h);

#endif
