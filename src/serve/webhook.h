/*
 * webhook.h: delivering alerts to configured URLs by HTTP POST (JSON
 * body), in the background, retrying failures with growing pauses. The
 * queue lives in memory: alerts still queued when the process ends are not
 * delivered again (the alert list and stream still hold them).
 */
#ifndef ANPR_WEBHOOK_H
#define ANPR_WEBHOOK_H

#include <stddef.h>

typedef struct webhook webhook;

/*
 * Starts a sender for urls[0..n) (http:// only). attempts is how many tries
 * each delivery gets (the pause doubles from one second between them).
 * NULL with a message in err when a URL is unusable.
 */
webhook *webhook_start(char *const *urls, int n, int attempts, char *err,
                       size_t errlen);

/* Queues one JSON document for every URL (copied). */
void webhook_post(webhook *w, const char *json);

/* Stops the sender (dropping what is queued) and frees it. */
void webhook_stop(webhook *w);

#endif
