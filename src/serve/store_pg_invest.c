/*
 * store_pg_invest.c: investigations on PostgreSQL: convoy analysis and
 * journeys between two cameras. Both join reads with reads on camera and
 * time; the (camera, time_ms) and (vrm, time_ms) indexes of each day
 * partition serve the inner side, and partitions outside a time bound are
 * pruned while the query runs.
 */
#include "store_pg.h"

#include <stdint.h>

static const pgs_stmt st_convoy = {
    "convoy",
    "WITH t AS (SELECT id, camera, time_ms FROM reads"
    "  WHERE vrm = $1 AND time_ms BETWEEN $2::bigint AND $3::bigint)"
    " SELECT r.vrm, count(DISTINCT t.id) AS n, count(DISTINCT r.camera)"
    " FROM t JOIN reads r ON r.camera = t.camera"
    "  AND r.time_ms BETWEEN t.time_ms - $4::bigint AND t.time_ms + $4::bigint"
    " WHERE r.vrm <> $1 GROUP BY r.vrm HAVING count(DISTINCT t.id) >= $5::integer"
    " ORDER BY n DESC, r.vrm LIMIT $6::integer"
};

store_code pgs_convoy(store *base, const char *vrm, int64_t from_ms,
                      int64_t to_ms, int64_t window_ms, int min_count,
                      int limit, store_convoy_cb cb, void *ctx)
{
    pgs_num n[5];
    const char *vals[6] = {
        vrm, pgs_i64(&n[0], from_ms), pgs_i64(&n[1], to_ms ? to_ms : INT64_MAX),
        pgs_i64(&n[2], window_ms), pgs_i64(&n[3], min_count),
        pgs_i64(&n[4], limit)
    };
    PGresult *r = pgs_query((pgs_store *)base, &st_convoy, 6, vals, "convoy");
    if (!r)
        return STORE_ERR;
    store_convoy row;
    for (int i = 0; i < PQntuples(r); i++) {
        pgs_get_text(r, i, 0, row.vrm, sizeof row.vrm);
        row.count = pgs_get_i64(r, i, 1);
        row.cameras = pgs_get_i64(r, i, 2);
        if (cb(ctx, &row))
            break;
    }
    PQclear(r);
    return STORE_OK;
}

static const pgs_stmt st_journeys = {
    "journeys",
    "SELECT a.vrm, a.id, a.time_ms, b.id, b.time_ms FROM reads a"
    " CROSS JOIN LATERAL (SELECT id, time_ms FROM reads WHERE vrm = a.vrm"
    "  AND camera = $2 AND time_ms > a.time_ms"
    "  AND time_ms <= a.time_ms + $5::bigint ORDER BY time_ms, id LIMIT 1) b"
    " WHERE a.camera = $1 AND a.time_ms BETWEEN $3::bigint AND $4::bigint"
    " AND ($6::text IS NULL OR a.vrm = $6)"
    " ORDER BY a.time_ms, a.id LIMIT $7::integer"
};

store_code pgs_journeys(store *base, const char *camera_a,
                        const char *camera_b, const char *vrm,
                        int64_t from_ms, int64_t to_ms, int64_t max_ms,
                        int limit, store_journey_cb cb, void *ctx)
{
    pgs_num n[4];
    const char *vals[7] = {
        camera_a, camera_b, pgs_i64(&n[0], from_ms),
        pgs_i64(&n[1], to_ms ? to_ms : INT64_MAX), pgs_i64(&n[2], max_ms),
        vrm, pgs_i64(&n[3], limit)
    };
    PGresult *r = pgs_query((pgs_store *)base, &st_journeys, 7, vals, "journeys");
    if (!r)
        return STORE_ERR;
    store_journey row;
    for (int i = 0; i < PQntuples(r); i++) {
        pgs_get_text(r, i, 0, row.vrm, sizeof row.vrm);
        pgs_get_text(r, i, 1, row.read_a, sizeof row.read_a);
        row.time_a = pgs_get_i64(r, i, 2);
        pgs_get_text(r, i, 3, row.read_b, sizeof row.read_b);
        row.time_b = pgs_get_i64(r, i, 4);
        if (cb(ctx, &row))
            break;
    }
    PQclear(r);
    return STORE_OK;
}
