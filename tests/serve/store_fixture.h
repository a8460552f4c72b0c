/*
 * store_fixture.h: what the store tests share: a fixed day, a read to
 * store, and a recorder for the alert hook (store_set_alert_hook).
 */
#ifndef ANPR_TEST_STORE_FIXTURE_H
#define ANPR_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "store.h"
#include "valid.h"

#define DAY 86400000LL
/* 2026-11-24T00:00:00Z */
#define T0 1795478400000LL

static inline store_read mkread(const char *id, const char *vrm, const char *camera, int64_t t)
{
    store_read r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.vrm, sizeof r.vrm, "%s", vrm);
    valid_key(vrm, r.vrm_key);
    snprintf(r.camera, sizeof r.camera, "%s", camera);
    snprintf(r.direction, sizeof r.direction, "north");
    r.confidence = 0.9;
    r.time_ms = t;
    r.lane = 1;
    r.received_ms = t + 5;
    return r;
}

/* What the alert hook was told. */
typedef struct hooked {
    int calls;
    int64_t last;
} hooked;

static inline void on_committed(void *ctx, int64_t id)
{
    hooked *k = ctx;
    k->calls++;
    k->last = id;
}

#endif
