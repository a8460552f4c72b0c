/*
 * store.h: the back office's one storage interface, with two engines.
 *
 * Everything `anpr serve` keeps (reads and their images, cameras, hotlists
 * and their entries, alerts, access tokens, the audit log) goes through a
 * store handle. store_open() picks the engine from the address:
 *
 *   "sqlite:PATH" or a plain path   SQLite in WAL mode, one file (store_sqlite.c)
 *   "postgres://..." / "postgresql://..."   PostgreSQL via libpq (store_pg.c)
 *
 * An engine is a struct whose first member is `store` (so a `store *` can be
 * cast to the engine's own type) and whose ops table fills every member of
 * store_ops. Callers use the table directly: s->ops->insert_reads(s, ...).
 *
 * Rules every engine keeps:
 * - Thread safety: every operation may be called from any number of threads
 *   at once on one handle; the engine pools or serialises its connections.
 * - Errors: operations return a store_code. On anything but STORE_OK the
 *   engine calls store_set_error() so store_error() tells the calling thread
 *   why, in words a person can act on. Nothing is printed.
 * - Times are milliseconds since 1970-01-01 UTC (int64_t); 0 means "none"
 *   for optional times (expiry, acknowledgement).
 * - Strings handed in have already been validated by the caller (VRMs are
 *   1..10 of A-Z0-9; patterns add '*' and '?'; IDs and names are printable
 *   ASCII within the STORE_*_MAX sizes below). Engines still bind every value
 *   as a parameter, never paste it into SQL.
 * - Durability: an operation that changes data returns only after its
 *   transaction has committed durably (SQLite: WAL commit; PostgreSQL:
 *   COMMIT with synchronous_commit on).
 * - Callbacks: list operations call `cb` once per row, in the order stated;
 *   the row's pointers are valid only during the call. A callback returning
 *   nonzero stops the listing early; the operation then returns STORE_OK.
 *
 * Shared schema (both engines; names matter because tests and tools read
 * them; types are the engine's nearest):
 *   meta(key TEXT PK, value TEXT)           'schema_version', 'hotlist_gen'
 *   cameras(id TEXT PK, name, lat REAL, lon REAL, bearing REAL, owner,
 *           purpose, installed_ms BIGINT, created_ms BIGINT)
 *   reads(id TEXT PK, vrm TEXT, vrm_key TEXT, confidence REAL, camera TEXT,
 *         time_ms BIGINT, lane INT, direction TEXT, patch BLOB, overview BLOB,
 *         received_ms BIGINT)
 *     indexes: (vrm_key, time_ms), (camera, time_ms), (time_ms), and on
 *     PostgreSQL (vrm, time_ms) too; SQLite finds a plate by its key and
 *     filters on vrm, one random-key index fewer to update per read.
 *     PostgreSQL partitions by day on time_ms; then the primary key is
 *     (id, time_ms) and the engine keeps ID uniqueness itself.
 *   hotlists(name TEXT PK, priority INT, fuzzy INT, description, created_ms)
 *   hotlist_entries(id BIGINT auto PK, hotlist TEXT -> hotlists, vrm TEXT,
 *         is_pattern INT, reason, priority INT, source, expires_ms BIGINT,
 *         created_ms BIGINT)
 *   alerts(id BIGINT auto PK, read_id TEXT, entry_id BIGINT, hotlist TEXT,
 *         vrm, entry_vrm, match INT, substitutions INT, priority INT, reason,
 *         camera, time_ms BIGINT, created_ms BIGINT, ack_ms BIGINT, ack_by,
 *         outcome, UNIQUE(read_id, entry_id))
 *   tokens(hash TEXT PK, name TEXT UNIQUE, role TEXT, created_ms BIGINT)
 *   audit(id BIGINT auto PK, time_ms, who, action, purpose, justification,
 *         authorisation, query, result_count INT, result, prev_hash, hash)
 *   deliveries(id BIGINT auto PK, alert_id BIGINT -> alerts ON DELETE
 *         CASCADE, url TEXT, state INT (store_delivery_state), attempts INT,
 *         due_ms BIGINT, done_ms BIGINT, error TEXT)
 *     indexes: (alert_id), (due_ms) of pending rows
 *     The webhook outbox: one row per new alert and configured URL,
 *     written in the alert's own transaction (see store_set_webhooks).
 */
#ifndef ANPR_STORE_H
#define ANPR_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Sizes of the fixed text fields, terminating NUL included. */
#define STORE_ID_MAX 65      /* read IDs, camera IDs: up to 64 chars */
#define STORE_VRM_MAX 16     /* a VRM (<= 10 chars) or a pattern (<= 15) */
#define STORE_NAME_MAX 65    /* hotlist names, token names, roles */
#define STORE_TEXT_MAX 257   /* free text: reasons, purposes, outcomes */
#define STORE_HASH_HEX 65    /* SHA-256 as lower-case hex */
#define STORE_URL_MAX 1025   /* webhook URLs: up to 1024 chars */

typedef enum store_code {
    STORE_OK = 0,
    STORE_NOTFOUND,   /* the named row does not exist */
    STORE_CONFLICT,   /* it exists already, or is in a state that forbids it */
    STORE_INVALID,    /* the request breaks a rule of the data (see store_error) */
    STORE_ERR         /* the engine failed: I/O, connection, SQL */
} store_code;

/* Which image of a read. */
typedef enum store_image {
    STORE_IMAGE_PATCH = 0,
    STORE_IMAGE_OVERVIEW
} store_image;

/* How a VRM is looked for, in searches and in hotlist matches. */
typedef enum store_match {
    STORE_MATCH_EXACT = 0,
    STORE_MATCH_PATTERN,  /* '*' any run of characters, '?' one character */
    STORE_MATCH_FUZZY     /* same lookalike key (vrm_key column) */
} store_match;

/* A hotlist entry that a read matched, to be stored as an alert. */
typedef struct store_hit {
    int64_t entry_id;
    char hotlist[STORE_NAME_MAX];
    char entry_vrm[STORE_VRM_MAX];
    store_match match;
    int substitutions;             /* lookalike substitutions (fuzzy) */
    int priority;
    char reason[STORE_TEXT_MAX];
} store_hit;

/*
 * A read. On insert the images are optional (NULL, 0). In search results
 * the image pointers are NULL and has_patch / has_overview say whether
 * get_image() would find one.
 */
typedef struct store_read {
    char id[STORE_ID_MAX];
    char vrm[STORE_VRM_MAX];
    char vrm_key[STORE_VRM_MAX];   /* lookalike key, from the caller */
    double confidence;
    char camera[STORE_ID_MAX];
    int64_t time_ms;
    int lane;                      /* 0: not given */
    char direction[STORE_NAME_MAX];
    const void *patch;
    size_t patch_len;
    const void *overview;
    size_t overview_len;
    int has_patch, has_overview;
    int64_t received_ms;
    /* Insert only: hotlist hits found in memory, stored as alerts in the
     * same transaction when (and only when) the read itself is new. */
    const store_hit *hits;
    int n_hits;
} store_read;

/* Per-read outcome of insert_reads(). */
typedef enum store_insert {
    STORE_INSERTED = 0,
    STORE_DUPLICATE      /* a read with this ID was stored before */
} store_insert;

/*
 * A search. vrm is NULL for any VRM; for EXACT the VRM itself, for PATTERN
 * the pattern in '*'/'?' syntax (the engine translates it), for FUZZY the
 * lookalike key to compare with vrm_key (the caller filters by the number of
 * substitutions). Results run newest first (time_ms, then id, descending),
 * at most `limit` of them, strictly older than the cursor when one is given.
 */
typedef struct store_query {
    store_match match;
    const char *vrm;
    int64_t from_ms, to_ms;        /* inclusive; 0: unbounded */
    const char *camera;            /* NULL: any camera */
    int limit;                     /* 1..10000 */
    int64_t before_ms;             /* cursor: 0 for the first page */
    const char *before_id;         /* cursor: ID of the last row of the page */
} store_query;

typedef struct store_camera {
    char id[STORE_ID_MAX];
    char name[STORE_TEXT_MAX];
    double lat, lon;               /* degrees, WGS84 */
    double bearing;                /* degrees clockwise from north */
    char owner[STORE_TEXT_MAX];
    char purpose[STORE_TEXT_MAX];  /* why it was installed */
    int64_t installed_ms;
    int64_t created_ms;
} store_camera;

typedef struct store_hotlist {
    char name[STORE_NAME_MAX];
    int priority;
    int fuzzy;                     /* lookalike substitutions allowed; 0: none */
    char description[STORE_TEXT_MAX];
    int64_t created_ms;
} store_hotlist;

typedef struct store_entry {
    int64_t id;                    /* set by the store */
    char hotlist[STORE_NAME_MAX];
    char vrm[STORE_VRM_MAX];       /* a VRM, or a pattern when is_pattern */
    int is_pattern;
    char reason[STORE_TEXT_MAX];
    int priority;
    char source[STORE_TEXT_MAX];
    int64_t expires_ms;            /* 0: never */
    int64_t created_ms;
} store_entry;

typedef struct store_alert {
    int64_t id;                    /* set by the store, increasing */
    char read_id[STORE_ID_MAX];
    store_hit hit;
    char vrm[STORE_VRM_MAX];
    char camera[STORE_ID_MAX];
    int64_t time_ms;               /* of the read */
    int64_t created_ms;
    int64_t ack_ms;                /* 0: not acknowledged */
    char ack_by[STORE_NAME_MAX];
    char outcome[STORE_TEXT_MAX];
} store_alert;

/*
 * Alert listings. With after_id > 0 or oldest_first set: alerts with an id
 * greater than after_id, oldest first (for streams; oldest_first lets a
 * stream start from the very first alert, after_id 0). Otherwise newest
 * first, strictly below before_id when it is > 0. unacked_only skips
 * acknowledged ones; hotlist (NULL: any) filters.
 */
typedef struct store_alert_query {
    int oldest_first;
    int64_t after_id;
    int64_t before_id;
    int unacked_only;
    const char *hotlist;
    int limit;                     /* 1..10000 */
} store_alert_query;

typedef struct store_token {
    char hash[STORE_HASH_HEX];     /* SHA-256 of the secret, hex */
    char name[STORE_NAME_MAX];
    char role[STORE_NAME_MAX];     /* "admin" or "user" */
    int64_t created_ms;
} store_token;

/*
 * One audit record. On append the caller fills all but id, prev_hash and
 * hash; the engine, inside one serialised transaction, reads the hash of
 * the newest record (64 zeros when there is none), computes
 * store_audit_hash() and stores the row, so the chain has no gaps or forks
 * even with several nodes.
 */
typedef struct store_audit {
    int64_t id;
    int64_t time_ms;
    char who[STORE_NAME_MAX];
    char action[STORE_NAME_MAX];   /* "search", "convoy", "retention", ... */
    char purpose[STORE_TEXT_MAX];
    char justification[STORE_TEXT_MAX];
    char authorisation[STORE_TEXT_MAX]; /* needed past the access wall */
    const char *query;             /* JSON text of what was asked */
    int64_t result_count;
    const char *result;            /* JSON text: IDs of what came back */
    char prev_hash[STORE_HASH_HEX];
    char hash[STORE_HASH_HEX];
} store_audit;

/* Where one webhook delivery stands. */
typedef enum store_delivery_state {
    STORE_DELIVERY_PENDING = 0,    /* due at due_ms, or claimed until then */
    STORE_DELIVERY_DONE,           /* the URL answered 2xx */
    STORE_DELIVERY_FAILED          /* every attempt failed; error says why */
} store_delivery_state;

/* A claimed webhook delivery (claim_delivery) and the alert it carries. */
typedef struct store_delivery {
    int64_t id;
    char url[STORE_URL_MAX];
    int attempt;                   /* which try this claim is, from 1 */
    store_alert alert;             /* as stored now, acknowledgement included */
} store_delivery;

/* Vehicles seen near a target (convoy analysis). */
typedef struct store_convoy {
    char vrm[STORE_VRM_MAX];
    int64_t count;                 /* target sightings it accompanied */
    int64_t cameras;               /* distinct cameras it shared */
} store_convoy;

/* One passage from camera A to camera B (journey times). */
typedef struct store_journey {
    char vrm[STORE_VRM_MAX];
    char read_a[STORE_ID_MAX], read_b[STORE_ID_MAX];
    int64_t time_a, time_b;
} store_journey;

typedef int (*store_read_cb)(void *ctx, const store_read *r);
typedef int (*store_camera_cb)(void *ctx, const store_camera *c);
typedef int (*store_hotlist_cb)(void *ctx, const store_hotlist *h);
typedef int (*store_entry_cb)(void *ctx, const store_entry *e);
typedef int (*store_alert_cb)(void *ctx, const store_alert *a);
typedef int (*store_audit_cb)(void *ctx, const store_audit *a);
typedef int (*store_convoy_cb)(void *ctx, const store_convoy *c);
typedef int (*store_journey_cb)(void *ctx, const store_journey *j);

typedef struct store store;

typedef struct store_ops {
    const char *name;              /* "sqlite", "postgres" */

    /* Closes every connection and frees the handle. */
    void (*close)(store *s);

    /* The schema version now in the database (migrations ran at open). */
    store_code (*schema_version)(store *s, int *version);

    /* --- reads --- */

    /*
     * Stores reads[0..n) in one transaction. A read whose ID is stored
     * already is left as it was and marked STORE_DUPLICATE in status[i];
     * a new one is stored with its hits as alerts (duplicate alerts for one
     * read and entry are ignored) and marked STORE_INSERTED. Returns only
     * once durable; on failure nothing of the batch is stored. New alerts
     * wake wait_alerts() on every node.
     */
    store_code (*insert_reads)(store *s, const store_read *reads, size_t n,
                               store_insert *status);

    /* Runs a search (see store_query), newest first. */
    store_code (*search_reads)(store *s, const store_query *q,
                               store_read_cb cb, void *ctx);

    /* Fetches one read by ID (images not loaded); STORE_NOTFOUND if none. */
    store_code (*get_read)(store *s, const char *id, store_read *out);

    /*
     * Copies one image of a read into a malloc()ed buffer the caller frees.
     * STORE_NOTFOUND when the read or that image is absent.
     */
    store_code (*get_image)(store *s, const char *id, store_image which,
                            void **data, size_t *len);

    /* Number of stored reads (exact; for tests, benches and reports). */
    store_code (*count_reads)(store *s, int64_t *n);

    /*
     * Deletes every read (and its images) older than cutoff_ms, and the
     * alerts that point at them, and records it: each transaction that
     * deletes appends a copy of *a to the audit log (see audit_append)
     * with result_count set to the reads it deleted, before it commits.
     * So a crash can never leave a deletion without its record, nor a
     * record of a deletion that did not happen. *deleted says how many
     * reads went in all; *a is left as the last record appended.
     *
     * SQLite does it all in one transaction: one record, even when nothing
     * went. PostgreSQL drops each whole day partition in a transaction of
     * its own (one record each), so ingest waits for one day at most, then
     * deletes what is left row by row in a last one, which always records.
     * On failure the days dropped before it stay dropped, recorded and
     * counted in *deleted.
     */
    store_code (*delete_reads_before)(store *s, int64_t cutoff_ms,
                                      store_audit *a, int64_t *deleted);

    /* --- investigations (all within [from_ms, to_ms], 0 = unbounded) --- */

    /*
     * First and last sightings of an exact VRM and how many there are.
     * STORE_NOTFOUND when never seen; images are not loaded.
     */
    store_code (*first_last_seen)(store *s, const char *vrm, int64_t from_ms,
                                  int64_t to_ms, store_read *first,
                                  store_read *last, int64_t *count);

    /*
     * Convoy analysis: other VRMs read at the same camera as `vrm` within
     * window_ms either side of one of its reads, at least min_count of its
     * reads. Most frequent first, at most `limit`.
     */
    store_code (*convoy)(store *s, const char *vrm, int64_t from_ms,
                         int64_t to_ms, int64_t window_ms, int min_count,
                         int limit, store_convoy_cb cb, void *ctx);

    /*
     * Passages from camera_a to camera_b: each read at A paired with the
     * same VRM's next read at B no more than max_ms later. vrm NULL: every
     * vehicle. Ordered by time_a, at most `limit`.
     */
    store_code (*journeys)(store *s, const char *camera_a,
                           const char *camera_b, const char *vrm,
                           int64_t from_ms, int64_t to_ms, int64_t max_ms,
                           int limit, store_journey_cb cb, void *ctx);

    /* --- cameras --- */

    /* Creates or replaces a camera (created_ms kept from the first put). */
    store_code (*put_camera)(store *s, const store_camera *c);
    store_code (*get_camera)(store *s, const char *id, store_camera *out);
    /* Every camera, by ID. */
    store_code (*list_cameras)(store *s, store_camera_cb cb, void *ctx);

    /* --- hotlists --- */

    /* Creates or updates a hotlist (priority, fuzzy, description). */
    store_code (*put_hotlist)(store *s, const store_hotlist *h);
    store_code (*get_hotlist)(store *s, const char *name, store_hotlist *out);
    /* Every hotlist, by name. */
    store_code (*list_hotlists)(store *s, store_hotlist_cb cb, void *ctx);
    /* Deletes a hotlist and its entries (alerts stay). */
    store_code (*delete_hotlist)(store *s, const char *name);

    /*
     * Adds entries[0..n) to hotlist `name` in one transaction: all or none.
     * Fills ids[i] (when ids is not NULL) with the new entries' IDs.
     * STORE_NOTFOUND when the hotlist does not exist.
     */
    store_code (*add_entries)(store *s, const char *name,
                              const store_entry *entries, size_t n,
                              int64_t *ids);
    /* Deletes one entry of hotlist `name`; STORE_NOTFOUND if it has none such. */
    store_code (*delete_entry)(store *s, const char *name, int64_t id);
    /*
     * Entries of hotlist `name` (NULL: of every hotlist), by ID. Expired
     * entries are skipped unless with_expired; "expired" means
     * 0 < expires_ms <= now_ms.
     */
    store_code (*list_entries)(store *s, const char *name, int with_expired,
                               int64_t now_ms, store_entry_cb cb, void *ctx);

    /*
     * A number that grows whenever any hotlist or entry changes, on any
     * node (kept in meta 'hotlist_gen', bumped in the changing
     * transaction). Nodes poll it to know when to reload their matcher.
     */
    store_code (*hotlist_generation)(store *s, int64_t *gen);

    /* --- alerts --- */

    /*
     * Stores one alert (a->id, ack fields ignored) and fills *id. When an
     * alert for the same read and entry exists, returns STORE_CONFLICT and
     * that alert's id. Wakes wait_alerts() on every node.
     */
    store_code (*create_alert)(store *s, const store_alert *a, int64_t *id);
    store_code (*get_alert)(store *s, int64_t id, store_alert *out);
    /* Lists alerts (see store_alert_query). */
    store_code (*list_alerts)(store *s, const store_alert_query *q,
                              store_alert_cb cb, void *ctx);
    /*
     * Acknowledges an alert with who and an outcome. STORE_NOTFOUND if no
     * such alert; STORE_CONFLICT if it was acknowledged already.
     */
    store_code (*ack_alert)(store *s, int64_t id, const char *by,
                            const char *outcome, int64_t now_ms);

    /*
     * Waits up to timeout_ms for alerts with id > after_id, created by this
     * or any other node, and calls cb for each, oldest first. Returns as soon
     * as it has delivered some, or at the timeout having delivered none.
     * Every committed alert is delivered exactly once to a caller that
     * passes back the highest id it saw. PostgreSQL: LISTEN/NOTIFY on
     * channel "anpr_alerts" with the id as payload; SQLite: a condition
     * signalled by this process's commits, plus polling the alerts table
     * for other processes' at least every 200 ms.
     */
    store_code (*wait_alerts)(store *s, int64_t after_id, int timeout_ms,
                              store_alert_cb cb, void *ctx);

    /* --- webhook deliveries (the outbox) --- */

    /*
     * Claims the pending delivery due longest (due_ms <= now_ms) and fills
     * *out with it and its alert; STORE_NOTFOUND when none is due. The
     * claim counts the attempt and moves due_ms to now_ms + lease_ms in
     * one committed change, so no other thread or node claims it while it
     * is tried, and one whose claimer died (kill -9 mid-POST) is claimed
     * again once the lease runs out: at least once, and twice only then.
     * PostgreSQL skips rows another node has locked (FOR UPDATE SKIP
     * LOCKED); SQLite claims inside an IMMEDIATE transaction.
     */
    store_code (*claim_delivery)(store *s, int64_t now_ms, int64_t lease_ms,
                                 store_delivery *out);

    /*
     * Settles a claimed attempt: with error NULL it was delivered; else
     * error is recorded and the delivery is due again at retry_ms, or with
     * retry_ms 0 has failed for good. STORE_CONFLICT (changing nothing)
     * when the claim was lost: its lease ran out and it was claimed again.
     */
    store_code (*finish_delivery)(store *s, const store_delivery *d,
                                  int64_t now_ms, int64_t retry_ms,
                                  const char *error);

    /* --- tokens --- */

    /* Stores a token; STORE_CONFLICT if its name or hash is taken. */
    store_code (*add_token)(store *s, const store_token *t);
    /* Finds a token by hash; STORE_NOTFOUND if none. */
    store_code (*find_token)(store *s, const char *hash, store_token *out);
    store_code (*count_tokens)(store *s, int64_t *n);

    /* --- audit log --- */

    /* Appends a record to the hash chain (see store_audit); fills a->id,
     * a->prev_hash and a->hash. */
    store_code (*audit_append)(store *s, store_audit *a);
    /* Every record in id order, for verification and export. */
    store_code (*audit_list)(store *s, int64_t after_id, store_audit_cb cb,
                             void *ctx);
} store_ops;

/* The head of every engine's handle. */
struct store {
    const store_ops *ops;
    char *const *webhooks;         /* see store_set_webhooks(); none at open */
    int n_webhooks;
    void (*alert_hook)(void *ctx, int64_t id);  /* see store_set_alert_hook() */
    void *alert_hook_ctx;
};

/*
 * From now on every new alert (insert_reads, create_alert) gets one
 * pending delivery per URL of urls[0..n), in the transaction that stores
 * it, so an acknowledged alert's deliveries survive a crash. The URLs are
 * not copied: they must outlive the handle. Call before other threads use
 * the handle. Each node records deliveries for its own URLs; any node
 * that claims them delivers them.
 */
void store_set_webhooks(store *s, char *const *urls, int n);

/*
 * From now on hook(ctx, id) is called in the committing thread right after
 * every commit through this handle that stored new alerts, with the highest
 * new id. Those alerts are durable by then, and so is every lower id (ids
 * commit in id order, see wait_alerts), so this process can stream its own
 * alerts without waiting for wait_alerts() to read them back. hook must be
 * quick and must not use the store. NULL: none (as at open). Set it while
 * nothing stores alerts.
 */
void store_set_alert_hook(store *s, void (*hook)(void *ctx, int64_t id), void *ctx);

/* For engines: calls the alert hook, if any, after a commit that stored
 * alerts up to id. */
void store_alerts_committed(const store *s, int64_t id);

/*
 * Opens (creating if needed) the store at `url` and runs its schema
 * migrations. On failure returns non-OK with *out NULL and store_error() set.
 */
store_code store_open(const char *url, store **out);

/* The engines' own openers, called by store_open(). */
store_code store_sqlite_open(const char *path, store **out);
store_code store_pg_open(const char *url, store **out);

/* Why the calling thread's last store operation failed. Never NULL. */
const char *store_error(void);

/* For engines: sets the calling thread's message (printf format). */
void store_set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * The audit chain's hash: SHA-256, as hex, of prev_hash followed by every
 * other field of the record in a fixed order with separators (see
 * store.c). Engines call it in audit_append; verifiers call it to check.
 */
void store_audit_hash(const store_audit *a, const char *prev_hash,
                      char out[STORE_HASH_HEX]);

/* A store_code's name, for messages. */
const char *store_strcode(store_code c);

#endif
