/* SPDX-License-Identifier: MIT */
/* What the ledger's source files share: the connection struct, statement cache, helpers. */
#ifndef SK_LEDGER_INTERNAL_H
#define SK_LEDGER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "storekeeper/buf.h"
#include "storekeeper/clock.h"
#include "storekeeper/ledger.h"

/* Every statement the ledger runs more than once, prepared once (SQLITE_PREPARE_PERSISTENT).
 * The SQL lives next to the enum in ledger.c. */
enum ledger_stmt {
    ST_LAST_SEQ,
    ST_EVENT_INSERT,
    ST_PENDING,
    ST_ROWS,
    ST_ROWS_PENDING,
    ST_DELIVER,
    ST_PENDING_COUNT,
    ST_DELIVERED_COUNT,
    ST_OLDEST_PENDING,
    ST_LAST_DELIVERED,
    ST_PRUNE_AGE,
    ST_PRUNE_COUNT,
    ST_RESEND_COUNT,
    ST_RESEND,
    ST_META_GET,
    ST_META_SET,
    ST_PRESENT_ADD,
    ST_PRESENT_DEL,
    ST_PRESENT_ALL,
    ST_PRESENT_CLEAR,
    ST_PRESENT_COUNT,
    ST_PRODUCT_PUT,
    ST_PRODUCT_GET,
    ST_PRODUCT_BY_GTIN,
    ST_TAG_PUT,
    ST_TAG_GET,
    ST_SHELF_PUT,
    ST_SHELF_DEACTIVATE,
    ST_SHELF_EXISTS,
    ST_PLANO_PUT,
    ST_PLANO_GET,
    ST_LAST_MOVE,
    ST_MOVE_INSERT,
    ST_STOCK_GET,
    ST_STOCK_TOTAL,
    ST_STOCK_LIST,
    ST_MOVE_LIST,
    ST_MOVE_CHAIN,
    ST_SESSION_OPEN,
    ST_SESSION_CLOSE,
    ST_REQUEST_GET,
    ST_REQUEST_PUT,
    ST_REQUEST_EXPIRE,
    ST_REQUEST_TRIM,
    ST_EVENT_ID,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_STOCK_SET,
    ST_STOCK_UPDATE,
    ST_DATA_VERSION,
    ST_SYNC_GET,
    ST_PRODUCT_LEVELS,
    /* Savepoints sk1..sk3 (nesting depths 1..3, the runtime's batch, observation, movement),
     * prepared: deeper ones go through sqlite3_exec. In groups of LEDGER_SP_PREPARED. */
    ST_SAVEPOINT_1,
    ST_SAVEPOINT_2,
    ST_SAVEPOINT_3,
    ST_RELEASE_1,
    ST_RELEASE_2,
    ST_RELEASE_3,
    ST_ROLLBACK_TO_1,
    ST_ROLLBACK_TO_2,
    ST_ROLLBACK_TO_3,
    ST_COUNT
};

#define LEDGER_SP_PREPARED 3

#define LEDGER_MAX_LISTENERS 4

/* One slot of the anchor file (ledger_anchor.c). */
struct ledger_anchor {
    bool valid;
    uint64_t generation;
    struct sk_ledger_head head;
};

/* One sku's total stock over all shelves, cached (struct sk_ledger, c_totals). */
struct ledger_total {
    char sku[SK_LEDGER_SKU_MAX]; /* "" for a free slot */
    int64_t total;
    bool product_known; /* the product exists, its restock threshold is: */
    int threshold;
};

/* The stock of one (shelf, sku) (the movement cache). */
struct ledger_qty {
    char shelf[64]; /* "" for a free slot */
    char sku[SK_LEDGER_SKU_MAX];
    bool has_row; /* a stock row exists (else quantity 0 and none written yet) */
    int64_t quantity;
};

/* A shelf known to exist (the movement cache). */
struct ledger_shelf {
    char name[64]; /* "" for a free slot */
};

/* The ledger's scratch buffers: a movement's evidence, its event's members, an event's
 * payload (each in use by one function at a time; they nest in this order). */
enum ledger_scratch_id {
    SCRATCH_EVIDENCE,
    SCRATCH_MEMBERS,
    SCRATCH_PAYLOAD,
    SCRATCH_COUNT
};

struct ledger_scratch {
    char *p;
    size_t cap;
};

struct ledger_listener {
    sk_ledger_commit_cb cb;
    void *ctx;
};

struct sk_ledger {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
    const struct sk_clock *clock;
    int lock_fd; /* owner lock (flock on the file); closed after sqlite3_close */
    char path[256];
    char ledger_id[SK_LEDGER_ID_LEN + 1];
    char store_id[64];
    char device_id[64];
    int64_t created_us;
    int migrated_from;
    char adopted_from[130]; /* "store/device" an unused ledger had before this open, or "" */
    sk_ledger_progress_cb progress; /* sk_ledger_set_progress */
    void *progress_ctx;

    int depth;               /* transaction nesting */
    bool aborted;            /* SQLite rolled the transaction back under us */
    int abort_err;           /* why */
    int64_t txn_visible_seq; /* last seq committed when the transaction began */
    int64_t txn_last_event;  /* highest seq written in the open transaction, 0 if none */
    bool txn_moved;          /* a movement was written in the open transaction */

    bool full;     /* last write failed for lack of space */
    bool overflow; /* outbox above its bound (mirrors meta "outbox_overflow") */
    int64_t pruned;
    uint64_t commits;

    struct ledger_listener listeners[LEDGER_MAX_LISTENERS];

    /* Fault injection for tests (ledger_internal only): the named point fails with
     * fault_err after fault_countdown passes. */
    const char *fault_point;
    int fault_countdown;
    int fault_err;

    /* The anchor file (ledger_anchor.c), with SK_LEDGER_ANCHOR. */
    bool anchor_on;
    bool anchor_readonly;     /* cannot be written by this process: checked only */
    bool anchor_stale;        /* the last write failed: the next commit tries again */
    bool anchor_created;      /* there was none: this open made it */
    bool anchor_nosync;       /* the connection runs synchronous=OFF: the anchor is not synced */
    bool accept_mode;         /* SK_LEDGER_ACCEPT_ROLLBACK: writes allowed to record the loss */
    bool anchor_unsynced;     /* written without its fdatasync (sk_ledger_anchor_flush) */
    int64_t anchor_synced_us; /* monotonic time of its last fdatasync, 0 before the first */
    int anchor_fd;            /* open for writing, -1 until the first write */
    struct ledger_anchor anchor;
    char config_path[256];
    /* Why writes are refused (behind the anchor, chain head broken), with its code. */
    int refusal_err;
    char refusal[1024];
    char refusal_kind[16]; /* behind, lost, replaced, rewritten, chain_broken, anchor_damaged */

    /* Kept in memory under the write lock, so that a movement does not read them back
     * (ledger_moves.c, "Caches"): the last seq assigned, the chain head, each sku's total
     * stock. Valid while cache_ok; dropped by any rollback, a failed commit and a write that
     * bypasses them, and at the start of a transaction when PRAGMA data_version says another
     * connection committed since. Also which products exist with their restock threshold
     * (dropped by every product write), which shelves exist (they are never deleted) and the
     * stock of each (shelf, sku) moved (stock_add is the only writer of stock). */
    bool cache_ok;
    int64_t cache_data_version;
    int64_t c_seq;
    bool c_head_known;
    int64_t c_head_id;
    uint8_t c_head_hash[32];
    struct ledger_total *c_totals; /* open addressing by sku, c_totals_cap slots (power of 2) */
    size_t c_totals_n, c_totals_cap;
    struct ledger_shelf *c_shelves; /* open addressing by name, c_shelves_cap slots */
    size_t c_shelves_n, c_shelves_cap;
    struct ledger_qty *c_qty; /* open addressing by (shelf, sku), c_qty_cap slots */
    size_t c_qty_n, c_qty_cap;
    /* The depth whose transaction or savepoint holds part of a movement that failed (moved
     * with SK_MOVE_IN_BATCH): nothing at or above it may commit until it is rolled back. */
    int partial_depth;
    /* Kept between movements: allocating, growing and freeing three buffers per movement
     * was a tenth of its CPU (ledger_scratch). */
    struct ledger_scratch scratch[SCRATCH_COUNT];
    int err; /* the code of the last failure recorded in errmsg */
    char errmsg[SK_LEDGER_ERRMSG_MAX];
};

/* A movement's fields as its hash covers them (ledger_moves.c documents the encoding). */
struct ledger_move_fields {
    int version; /* 1: rows before schema 4; 2: also recorded_us and event_seq */
    int64_t id, time_us, recorded_us, quantity, event_seq;
    const char *type;
    const void *epc;
    size_t epc_len;
    const char *sku, *shelf, *to_shelf, *session, *evidence;
};

/* SHA-256 of a movement linked to prev. Returns 0 or -ENOMEM. */
int ledger_move_hash(const uint8_t prev[32], const struct ledger_move_fields *f, uint8_t out[32]);
/* What the first movement links to: SHA-256("storekeeper ledger " + ledger_id). */
void ledger_genesis(const char *ledger_id, uint8_t out[32]);
/* n bytes as lower-case hex (2n characters and a NUL). */
void ledger_hex(const uint8_t *p, size_t n, char *out);
/* SHA-256 of an outbox row as stored (schema 4; its seq, id, topic and payload): what
 * `digest` holds. */
void ledger_event_digest(const char *ledger_id, const struct sk_outbox_row *row, uint8_t out[32]);

/* The anchor (ledger_anchor.c). load: 1 and the newest whole slot, 0 when there is none,
 * -EBADMSG when damaged. precheck runs before a missing or empty file is created: it refuses
 * when the anchor knew a ledger there. check runs at the end of an open: for an owner it
 * refuses a ledger behind its anchor or with a broken chain head, for others it records why
 * writes are refused; a sound ledger's anchor is brought up to date (created if missing).
 * store writes head (never backwards unless force); after_commit stores the ledger's head. */
int ledger_anchor_load(const char *ledger_path, struct ledger_anchor *ret);
/* fsync of the directory that holds path, so a rename or link in it survives a power cut. */
int ledger_fsync_dir(const char *path);
int ledger_anchor_precheck(const char *path,
                           const struct sk_ledger_opts *opts,
                           bool exists,
                           int64_t size,
                           char *msg,
                           size_t msg_size);
int ledger_anchor_check(struct sk_ledger *l,
                        const struct sk_ledger_opts *opts,
                        char *msg,
                        size_t msg_size);
int ledger_anchor_store(struct sk_ledger *l, const struct sk_ledger_head *head, bool force);
int ledger_anchor_after_commit(struct sk_ledger *l);
/* For verify: the ledger against the anchor file as it is now. 0, SK_ELEDGER_ROLLBACK or
 * SK_ELEDGER_CHAIN with why, or < 0; *ret_anchored false when there is no anchor. */
int ledger_anchor_verify(struct sk_ledger *l, bool *ret_anchored, char *why, size_t size);
/* The ledger's head (sk_ledger_head). */
int ledger_head_read(struct sk_ledger *l, struct sk_ledger_head *ret);
/* The hash of movement id as hex, "" when there is no such movement. */
int ledger_movement_hash_hex(struct sk_ledger *l, int64_t id, char out[SK_LEDGER_HASH_HEX]);
/* Recomputes the last movement's hash and its link: 0, or SK_ELEDGER_CHAIN with why. */
int ledger_chain_head_check(struct sk_ledger *l, char *why, size_t size);
/* Appends the movement of an accepted rollback as movement id, linked to the chain head, with
 * its event's seq taken as the next one (the caller writes the event/rollback). */
int ledger_move_rollback(struct sk_ledger *l,
                         int64_t id,
                         const struct cJSON *evidence,
                         struct sk_movement_result *ret);

/* ,"key": (the outbox envelope is written by hand: its field order is part of the contract) */
void ledger_buf_key(struct sk_buf *b, const char *key);

/* Writes one outbox event inside the open transaction (see sk_ledger_event). */
int ledger_event_insert(struct sk_ledger *l,
                        const char *topic,
                        const char *schema,
                        const struct cJSON *fields,
                        int64_t time_us,
                        int64_t *ret_seq);
/* The same with the fields already written as JSON object members without their braces
 * ("\"a\":1,\"b\":\"x\""), n bytes: the movement's event, whose evidence text is the row's. */
int ledger_event_insert_members(struct sk_ledger *l,
                                const char *topic,
                                const char *members,
                                size_t n,
                                int64_t time_us,
                                int64_t *ret_seq);

/* True when the open transaction is gone (SQLite rolled it back): only rollback may follow. */
bool ledger_txn_lost(struct sk_ledger *l);

/* Returns the statement, reset and unbound, or NULL (error recorded in l->errmsg). */
sqlite3_stmt *ledger_stmt(struct sk_ledger *l, enum ledger_stmt id);

/* Records SQLite's failure rc during `what` and returns the storekeeper code for it. */
int ledger_fail(struct sk_ledger *l, int rc, const char *what);
/*
 * Steps s through its rows: row(s, arg) makes each into its struct and hands it to the
 * caller's callback; a non-zero return stops there and is returned. Returns the number of
 * rows, that stop value, or the failure of reading `what`; s is reset in every case.
 */
int ledger_each_row(struct sk_ledger *l,
                    sqlite3_stmt *s,
                    int (*row)(sqlite3_stmt *s, void *arg),
                    void *arg,
                    const char *what);
/* Records a failure of our own (code already translated). */
int ledger_failf(struct sk_ledger *l, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Line breaks in s become "; " separators (SQLite's integrity reports): messages are one line. */
void ledger_one_line(char *s, size_t size);
/* Translates an SQLite result code (primary or extended). */
int ledger_sqlite_err(int rc);
/* The code of the last failure recorded (ledger_fail, ledger_failf, a lost transaction), for
 * paths that learn of a failure after it was recorded: a statement that could not be
 * prepared, say. SK_ELEDGER when none was. */
int ledger_err(const struct sk_ledger *l);
/* Runs SQL without results; returns 0 or the translated error. */
int ledger_exec(struct sk_ledger *l, const char *sql, const char *what);
/* Fault injection hook: returns 0, or the injected error when point is armed and due. */
int ledger_fault(struct sk_ledger *l, const char *point);
/* Wall time now. */
int64_t ledger_now_us(const struct sk_ledger *l);
/* An empty buffer bounded by max, on the memory of scratch buffer id; give it back with
 * ledger_scratch_done (instead of sk_buf_free), after which its text is gone. */
struct sk_buf ledger_scratch(struct sk_ledger *l, enum ledger_scratch_id id, size_t max);
void ledger_scratch_done(struct sk_ledger *l, enum ledger_scratch_id id, struct sk_buf *b);
/* A UUIDv7 (time-ordered, 74 random bits) as 36 characters plus NUL. */
void ledger_uuid7(int64_t wall_us, char out[SK_LEDGER_ID_LEN + 1]);
/* Meta key/value; get copies into buf and returns 1 when found, 0 when absent. */
int ledger_meta_get(struct sk_ledger *l, const char *key, char *buf, size_t size);

/* Tells the progress callback, every 1024 rows (and when done == total). */
static inline void
ledger_progress(struct sk_ledger *l, const char *what, int64_t done, int64_t total)
{
    if (l->progress && (done % 1024 == 0 || done == total)) {
        l->progress(what, done, total, l->progress_ctx);
    }
}

int ledger_meta_set(struct sk_ledger *l, const char *key, const char *value);
/* The highest seq assigned so far (0 if none), or < 0. */
int64_t ledger_last_seq(struct sk_ledger *l);
/* The same inside a transaction, from the cache when it holds it. */
int64_t ledger_seq(struct sk_ledger *l);
/* Forgets every cached value (after a write that bypassed them, or a rollback). */
void ledger_cache_drop(struct sk_ledger *l);

/* Name checks shared by the catalog, movements and imports. */
bool ledger_sku_ok(const char *sku);
bool ledger_name_ok(const char *name); /* shelf, reader, session: 1..63 printable, no spaces */
/* Returns 1 when the shelf is in the shelves table (active or not), 0 when not, < 0. */
int ledger_shelf_known(struct sk_ledger *l, const char *shelf);
/* A product was written (sku) or several were removed (NULL): what the movement cache knows
 * of them is forgotten. */
void ledger_cache_product_changed(struct sk_ledger *l, const char *sku);
/* Runs a prepared statement that returns nothing or one row; 0 or the error. */
int ledger_step_done(struct sk_ledger *l, sqlite3_stmt *s, const char *what);
/* The same for a write: the number of rows it changed, or the failure recorded as what. */
int ledger_step_changes(struct sk_ledger *l, sqlite3_stmt *s, const char *what);

/* For tests: arm fault injection at point (e.g. "event", "commit"), failing the
 * (countdown+1)-th pass with err. point NULL disarms. */
void ledger_test_fault(struct sk_ledger *l, const char *point, int countdown, int err);
/* For tests: the connection. */
sqlite3 *ledger_test_db(struct sk_ledger *l);
/* The migrations, for the migration test: SQL that takes version i to i + 1. */
extern const char *const sk_ledger_migrations[SK_LEDGER_SCHEMA_VERSION];

#endif
