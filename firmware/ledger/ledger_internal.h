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
    ST_STOCK_ADD,
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
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_COUNT
};

#define LEDGER_MAX_LISTENERS 4

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

    int depth;               /* transaction nesting */
    bool aborted;            /* SQLite rolled the transaction back under us */
    int abort_err;           /* why */
    int64_t txn_visible_seq; /* last seq committed when the transaction began */
    int64_t txn_last_event;  /* highest seq written in the open transaction, 0 if none */

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

    int err; /* the code of the last failure recorded in errmsg */
    char errmsg[SK_LEDGER_ERRMSG_MAX];
};

/* ,"key": (the outbox envelope is written by hand: its field order is part of the contract) */
void ledger_buf_key(struct sk_buf *b, const char *key);

/* Writes one outbox event inside the open transaction (see sk_ledger_event). */
int ledger_event_insert(struct sk_ledger *l,
                        const char *topic,
                        const char *schema,
                        const struct cJSON *fields,
                        int64_t time_us,
                        int64_t *ret_seq);

/* True when the open transaction is gone (SQLite rolled it back): only rollback may follow. */
bool ledger_txn_lost(struct sk_ledger *l);

/* Returns the statement, reset and unbound, or NULL (error recorded in l->errmsg). */
sqlite3_stmt *ledger_stmt(struct sk_ledger *l, enum ledger_stmt id);
/* Records SQLite's failure rc during `what` and returns the storekeeper code for it. */
int ledger_fail(struct sk_ledger *l, int rc, const char *what);
/* Records a failure of our own (code already translated). */
int ledger_failf(struct sk_ledger *l, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
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
/* A UUIDv7 (time-ordered, 74 random bits) as 36 characters plus NUL. */
void ledger_uuid7(int64_t wall_us, char out[SK_LEDGER_ID_LEN + 1]);
/* Meta key/value; get copies into buf and returns 1 when found, 0 when absent. */
int ledger_meta_get(struct sk_ledger *l, const char *key, char *buf, size_t size);
int ledger_meta_set(struct sk_ledger *l, const char *key, const char *value);
/* The highest seq assigned so far (0 if none), or < 0. */
int64_t ledger_last_seq(struct sk_ledger *l);

/* Name checks shared by the catalog, movements and imports. */
bool ledger_sku_ok(const char *sku);
bool ledger_name_ok(const char *name); /* shelf, reader, session: 1..63 printable, no spaces */
/* Returns 1 when the shelf is in the shelves table (active or not), 0 when not, < 0. */
int ledger_shelf_known(struct sk_ledger *l, const char *shelf);
/* Runs a prepared statement that returns nothing or one row; 0 or the error. */
int ledger_step_done(struct sk_ledger *l, sqlite3_stmt *s, const char *what);

/* For tests: arm fault injection at point (e.g. "event", "commit"), failing the
 * (countdown+1)-th pass with err. point NULL disarms. */
void ledger_test_fault(struct sk_ledger *l, const char *point, int countdown, int err);
/* For tests: the connection. */
sqlite3 *ledger_test_db(struct sk_ledger *l);
/* The migrations, for the migration test: SQL that takes version i to i + 1. */
extern const char *const sk_ledger_migrations[SK_LEDGER_SCHEMA_VERSION];

#endif
