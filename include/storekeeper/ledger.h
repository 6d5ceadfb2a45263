/* SPDX-License-Identifier: MIT */
/* The inventory ledger in SQLite: schema, transactions, the transactional outbox, presence. */
#ifndef STOREKEEPER_LEDGER_H
#define STOREKEEPER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/tagset.h"

/*
 * One struct sk_ledger is one SQLite connection to one ledger file. It belongs to one thread:
 * in the daemon, the core thread (services reach it through sk_runtime_ledger() and call it
 * from their handle()/loop callbacks, which run on the core thread); in `storekeeper ledger`,
 * the command's thread. Other processes may open the same file at the same time (WAL mode,
 * busy timeout); writers are serialised by SQLite.
 *
 * Everything a state change writes (movement rows, stock, presence, outbox events) goes into
 * one transaction: sk_ledger_begin() ... sk_ledger_commit(). Transactions nest: an inner
 * begin/commit is a savepoint, an inner rollback undoes only the inner part. Functions that
 * write and are called outside a transaction run in a transaction of their own.
 *
 * Errors: 0 (or a count) on success, negative errno or SK_ELEDGER_* (error.h) on failure;
 * sk_ledger_errmsg() has SQLite's own words for the last failure. SK_ELEDGER_FULL means the
 * disk (or ledger.max_size_mb) is full: nothing of the failed transaction was written.
 * The ledger never logs; its caller does.
 */
struct sk_ledger;
struct cJSON;

/* Schema version this build writes (PRAGMA user_version). Older files are migrated. */
#define SK_LEDGER_SCHEMA_VERSION 5
/* PRAGMA application_id of every storekeeper ledger ("SKLG"). */
#define SK_LEDGER_APPLICATION_ID 0x534b4c47

#define SK_LEDGER_ID_LEN      36    /* event ids and the ledger id: UUID text, without NUL */
#define SK_LEDGER_TOPIC_MAX   128   /* topic suffix, with NUL */
#define SK_LEDGER_PAYLOAD_MAX 65536 /* stored event payload, bytes */
#define SK_LEDGER_ERRMSG_MAX  512
#define SK_LEDGER_SKU_MAX     64  /* with NUL: [A-Za-z0-9._-]{1,63} */
#define SK_LEDGER_NAME_MAX    128 /* product names, with NUL */
#define SK_LEDGER_HASH_HEX    65  /* SHA-256 as hex, with NUL */

enum sk_ledger_flags {
    SK_LEDGER_CREATE = 1 << 0,   /* create the file (or initialise an empty one) */
    SK_LEDGER_MIGRATE = 1 << 1,  /* upgrade an older schema (in one transaction per step) */
    SK_LEDGER_OWNER = 1 << 2,    /* the daemon: exclusive owner lock; a second daemon fails */
    SK_LEDGER_NO_CHECK = 1 << 3, /* skip PRAGMA quick_check at open (benchmarks only) */
    /* Keep PATH.anchor (docs/ledger.md, "Rollback"): the ledger's identity, last event and
     * chain head, outside the database, written after every commit that adds events or
     * movements, and compared at open. A ledger behind it (lost -wal, an older copy, a
     * truncated or replaced file), or whose last movement does not match its hash, is refused
     * with SK_ELEDGER_ROLLBACK or SK_ELEDGER_CHAIN: at open with SK_LEDGER_OWNER, else (the
     * `storekeeper ledger` commands) at the first write, so that it can still be read. */
    SK_LEDGER_ANCHOR = 1 << 4,
    /* Open a ledger behind its anchor to accept the loss (sk_ledger_accept_rollback). */
    SK_LEDGER_ACCEPT_ROLLBACK = 1 << 5,
};

struct sk_ledger_opts {
    const char *path;
    /* Written into a new ledger. When non-NULL and the ledger exists, they must match it:
     * a ledger belongs to one device of one store (seq and event ids are per device). A
     * writer (SK_LEDGER_OWNER, or SK_LEDGER_CREATE while no daemon holds the file) opening
     * a ledger that never recorded anything (no movement, event, catalog, session or
     * census) gives it these instead (info.adopted_from); otherwise a mismatch is
     * SK_ELEDGER_IDENTITY. */
    const char *store_id;
    const char *device_id;
    int busy_timeout_ms;          /* 0: 5000 */
    unsigned flags;               /* enum sk_ledger_flags */
    const struct sk_clock *clock; /* wall time of records; NULL: the system clock */
    const char *config_path;      /* the store file, for the fix a refusal names (may be NULL) */
};

/*
 * Opens (and with the flags, creates or migrates) a ledger. Refuses, never overwrites:
 * a file that is not SQLite or fails quick_check (SK_ELEDGER_CORRUPT); an SQLite file that
 * is not a storekeeper ledger, one from a newer storekeeper, an older one without
 * SK_LEDGER_MIGRATE, or one of another store or device (SK_ELEDGER_SCHEMA); a missing file
 * without SK_LEDGER_CREATE (-ENOENT); a ledger another daemon owns (-EBUSY).
 * On failure msg (when non-NULL) holds one line for a person naming the file and the reason,
 * and *ret_ledger is untouched. opts is borrowed; clock must outlive the ledger.
 */
int sk_ledger_open(const struct sk_ledger_opts *opts,
                   char *msg,
                   size_t msg_size,
                   struct sk_ledger **ret_ledger);
/* Rolls back an open transaction, closes. Accepts NULL. */
void sk_ledger_close(struct sk_ledger *l);

/* Whether the ledger's path still names the file this owner opened: 0 yes (or not the owner),
 * -ENOENT removed, -ESTALE another file put in its place, else -errno of stat. A process keeps
 * writing to a removed file, which is gone when it closes it. */
int sk_ledger_file_check(const struct sk_ledger *l);
/* Writes the open ledger (every committed row, read through this connection) to its path as a
 * new file, when the path names no file: a copy beside it, synced, linked into place (never
 * over a file put there meanwhile), the directory synced. For the owner's last act before it
 * closes after sk_ledger_file_check said -ENOENT; the next open continues from the copy. On
 * failure msg names the file and the reason. */
int sk_ledger_file_restore(struct sk_ledger *l, char *msg, size_t msg_size);

/* SQLite's message for the last failure, with what the ledger was doing. Owned by l. */
const char *sk_ledger_errmsg(const struct sk_ledger *l);

struct sk_ledger_info {
    char ledger_id[SK_LEDGER_ID_LEN + 1]; /* random at creation: seq counts within it */
    char store_id[64], device_id[64];
    int schema_version;
    int64_t created_us;
    char path[256];
    int migrated_from;   /* the schema version this open migrated from, 0 if none */
    bool anchor_created; /* SK_LEDGER_ANCHOR: there was no PATH.anchor; this open wrote it */
    /* "store/device" of an unused ledger that this open (as owner) gave the configured
     * identity, or "": see sk_ledger_opts.store_id. */
    char adopted_from[130];
};

int sk_ledger_get_info(struct sk_ledger *l, struct sk_ledger_info *ret_info);

/* Where the book ends: what the anchor keeps, and what it is compared with. */
struct sk_ledger_head {
    char ledger_id[SK_LEDGER_ID_LEN + 1];
    int64_t seq;                         /* the last event's seq, 0 if none */
    char event_id[SK_LEDGER_ID_LEN + 1]; /* its id ("" when none, or pruned) */
    int64_t movement_id;                 /* the last movement, 0 if none */
    char hash[SK_LEDGER_HASH_HEX];       /* its hash: the chain head ("" when none) */
};

/* The ledger's head now (committed, and what the open transaction wrote). */
int sk_ledger_head(struct sk_ledger *l, struct sk_ledger_head *ret);
/* The anchor as last read or written: 1 and *ret, or 0 when there is none. */
int sk_ledger_anchor(const struct sk_ledger *l, struct sk_ledger_head *ret);
/*
 * How long the anchor of a commit may stay in the page cache only (docs/ledger.md,
 * "Rollback"): a commit syncs it when the last sync is at least this old, otherwise it is
 * synced by sk_ledger_anchor_flush (the daemon calls it on every core tick), by a later
 * commit or at close. Never before its commit is durable, so it may lag, never lead.
 */
#define SK_LEDGER_ANCHOR_SYNC_MS 100
/* Makes an anchor written without its fdatasync durable now. 1 synced, 0 nothing to do, < 0. */
int sk_ledger_anchor_flush(struct sk_ledger *l);
/* Why this ledger may not be written (it is behind its anchor, or its chain head does not
 * hold): one line with the fix, or NULL. Its code is in *ret_err when ret_err is not NULL. */
const char *sk_ledger_refusal(const struct sk_ledger *l, int *ret_err);

struct sk_rollback_result {
    bool accepted; /* false: nothing to accept, the ledger is where it was */
    /* What was accepted: "behind" (the end lost), "lost" (the file lost or truncated: a new
     * ledger records it), "replaced" (another ledger put in its place), "rewritten" (a seq or
     * movement of the anchor's now different), "chain_broken", "anchor_damaged". */
    char reason[16];
    struct sk_ledger_head known; /* what the anchor said */
    struct sk_ledger_head found; /* what the file held */
    int64_t movement_id;         /* the rollback movement */
    int64_t event_seq;           /* its event/rollback */
    int64_t lost_from, lost_to;  /* seqs that will never be used again (0, 0: none) */
};

/*
 * Accepts that the ledger lost what its anchor knew (opened with SK_LEDGER_ANCHOR |
 * SK_LEDGER_ACCEPT_ROLLBACK, and SK_LEDGER_CREATE when the file itself was lost): records a
 * `rollback` movement in the chain and an event/rollback naming what was known and what was
 * found (note, may be NULL, goes with them), moves the seq past every seq the anchor knew
 * (none is ever used again for another event under the same ledger_id), and writes the anchor
 * anew. All or nothing. Returns 0 (ret->accepted false when there was nothing to accept) or
 * < 0.
 */
int sk_ledger_accept_rollback(struct sk_ledger *l,
                              const char *note,
                              struct sk_rollback_result *ret);

/* ---- transactions -------------------------------------------------------------------- */

/* BEGIN IMMEDIATE at depth 0, a savepoint inside. Returns the new depth (>= 1) or < 0. */
int sk_ledger_begin(struct sk_ledger *l);
/* COMMIT at depth 1 (durable on return: see docs/ledger.md), RELEASE inside. On failure at
 * depth 1 the whole transaction is rolled back and the error returned. */
int sk_ledger_commit(struct sk_ledger *l);
/* Undoes the innermost begin. Returns 0 or < 0 (the transaction is gone either way). */
int sk_ledger_rollback(struct sk_ledger *l);
/* Current nesting depth, 0 outside a transaction. */
int sk_ledger_depth(const struct sk_ledger *l);
/* True when SQLite rolled the open transaction back under the caller (after out of memory or
 * an I/O error): every write fails until the caller has rolled back to depth 0. */
bool sk_ledger_txn_failed(const struct sk_ledger *l);

/* Transactions committed (outermost commits) on this connection since it was opened. */
uint64_t sk_ledger_commits(const struct sk_ledger *l);

/* Called on the owner thread after every commit that made new outbox events durable,
 * with the highest committed seq: the MQTT link's cue to drain. Up to 4 listeners. */
typedef void (*sk_ledger_commit_cb)(int64_t last_seq, void *ctx);
int sk_ledger_add_commit_listener(struct sk_ledger *l, sk_ledger_commit_cb cb, void *ctx);
void sk_ledger_remove_commit_listener(struct sk_ledger *l, sk_ledger_commit_cb cb, void *ctx);

/* ---- the outbox ---------------------------------------------------------------------- */

/*
 * Appends one event. The payload stored is the JSON envelope
 *   {"schema":"storekeeper/v1/<topic>","id":"<uuid>","seq":N,"ledger_id":"<uuid>",
 *    "store_id":"...","device_id":"...","time":"<RFC 3339 of time_us>", <fields...>}
 * (docs/ledger.md, "Event envelope"). topic is the suffix after
 * storekeeper/v1/<store_id>/<device_id>/, e.g. "event/checkout": 1..127 characters of
 * [a-z0-9_/-], no empty level. schema NULL derives it from the topic. fields (borrowed, may
 * be NULL) must be a JSON object without the envelope's keys. time_us is the wall time of
 * the fact (0: now). Joins the open transaction. Returns 0 and the seq in *ret_seq (may be
 * NULL); -EINVAL for a bad topic or fields, -EMSGSIZE above SK_LEDGER_PAYLOAD_MAX.
 */
int sk_ledger_event(struct sk_ledger *l,
                    const char *topic,
                    const char *schema,
                    const struct cJSON *fields,
                    int64_t time_us,
                    int64_t *ret_seq);

/* One outbox row, borrowed: valid only during the callback. */
struct sk_outbox_row {
    int64_t seq;
    const char *id;      /* event id (UUID text) */
    const char *topic;   /* suffix after storekeeper/v1/<store_id>/<device_id>/ */
    const char *payload; /* JSON text, NUL-terminated */
    size_t payload_len;
    int64_t created_us;   /* wall time it entered the outbox */
    int64_t delivered_us; /* 0 while pending */
};

/* Return 0 to go on, anything else to stop (sk_ledger_outbox_* then returns that value). */
typedef int (*sk_outbox_cb)(const struct sk_outbox_row *row, void *ctx);

/*
 * Calls cb for committed, undelivered rows with seq > after_seq, in seq order, at most max.
 * Rows written by a transaction still open on this connection are not shown (they could
 * still roll back). cb must not call the ledger. Returns the rows visited, cb's non-zero
 * value, or < 0.
 */
int sk_ledger_outbox_pending(
        struct sk_ledger *l, int64_t after_seq, size_t max, sk_outbox_cb cb, void *ctx);

/* Marks the row seq delivered at delivered_us (0: now). Returns 1 when marked, 0 when it
 * was already delivered or is unknown (pruned), < 0 on failure. Outside a transaction the
 * mark is written without waiting for the disk: a mark lost in a power cut only means the
 * event is published again, which consumers drop by id. */
int sk_ledger_outbox_delivered(struct sk_ledger *l, int64_t seq, int64_t delivered_us);

/* Calls cb for any rows (delivered or not) with seq > after_seq, at most max: `ledger
 * outbox --all` and tests. Same rules as sk_ledger_outbox_pending. */
int sk_ledger_outbox_rows(struct sk_ledger *l,
                          int64_t after_seq,
                          size_t max,
                          bool pending_only,
                          sk_outbox_cb cb,
                          void *ctx);

/* What sk_ledger_outbox_resend found in a range of seqs. */
struct sk_outbox_resend {
    int64_t requeued; /* delivered rows made pending again */
    int64_t pending;  /* rows that were still pending (on their way already) */
    int64_t missing;  /* seqs of the range no longer kept (pruned) */
};

/*
 * The cloud lost events after the broker and asks for them again (the outbox_resend command):
 * every delivered row with from_seq <= seq <= to_seq becomes pending again, so the link
 * publishes it once more with the same id and payload. Joins the open transaction (a
 * rollback undoes it). Returns 0 with the counts in *ret, or < 0.
 */
int sk_ledger_outbox_resend(struct sk_ledger *l,
                            int64_t from_seq,
                            int64_t to_seq,
                            struct sk_outbox_resend *ret);

struct sk_outbox_stats {
    int64_t pending;           /* rows not delivered (committed or not) */
    int64_t delivered;         /* delivered rows still kept */
    int64_t oldest_pending_us; /* created_us of the oldest pending row, 0 if none */
    int64_t first_pending_seq; /* 0 if none */
    int64_t last_seq;          /* highest seq ever assigned, 0 if none */
    int64_t last_delivered_seq;
    int64_t pruned;                /* delivered rows pruned since open */
    bool overflow;                 /* pending is above the bound (an overflow event was written) */
    int64_t last_movement_id;      /* the chain head's movement, 0 if none */
    char head[SK_LEDGER_HASH_HEX]; /* its hash ("" if none): the retained outbox message */
};

int sk_ledger_outbox_stats(struct sk_ledger *l, struct sk_outbox_stats *ret_stats);

struct sk_outbox_policy {
    int64_t keep_delivered_s;   /* prune delivered rows older than this (0: keep none) */
    int64_t keep_delivered_max; /* and keep at most this many delivered rows */
    int64_t max_pending;        /* above: one event/outbox_overflow, again after recovery */
    size_t max_prune;           /* rows deleted per call at most (bounds the pause); 0: 5000 */
};

/*
 * Retention and the overflow bound, for the periodic tick: deletes delivered rows beyond the
 * policy (never an undelivered one), and when pending crosses max_pending writes one
 * "event/outbox_overflow" event (state "overflow"), and one with state "recovered" once
 * pending is back under 90 % of it. The state survives restarts. Returns rows pruned.
 */
int sk_ledger_outbox_maintain(struct sk_ledger *l, const struct sk_outbox_policy *policy);

/* ---- observations from the store's other boards ------------------------------------------ */

/*
 * A satellite numbers its observations 1, 2, 3, ... in its ledger (kept there with the same
 * pair of calls under its own device_id), and they may reach the hub twice or out of order
 * (sent again after a hub restart). The hub keeps, per satellite and satellite ledger, the
 * number of the last observation it applied and the seq of the message that carried it, in the
 * same transaction as the effects. get: 0 and 0 when none yet. set joins the open transaction.
 * origin: a device_id; ledger_id: the satellite's ledger (1..39 characters).
 */
int sk_ledger_origin_seq(struct sk_ledger *l,
                         const char *origin,
                         const char *ledger_id,
                         int64_t *ret_n,
                         int64_t *ret_mark);
int sk_ledger_set_origin_seq(
        struct sk_ledger *l, const char *origin, const char *ledger_id, int64_t n, int64_t mark);

/* ---- presence ------------------------------------------------------------------------ */

/* The core's present-tag set, kept durable in the same transactions as everything else.
 * add/remove join the open transaction. Returns 1 changed, 0 no change, < 0. */
int sk_ledger_present_add(struct sk_ledger *l, const struct sk_tag_key *key, int64_t since_us);
int sk_ledger_present_remove(struct sk_ledger *l, const struct sk_tag_key *key);
/* Adds every stored tag to set (which should be empty). Returns the count or < 0
 * (-ENOSPC when the set's bound is smaller than the stored set: the rest is skipped). */
int sk_ledger_present_load(struct sk_ledger *l, struct sk_tagset *set);
/* Replaces the stored set with set (one transaction). Returns the count stored or < 0. */
int sk_ledger_present_replace(struct sk_ledger *l, const struct sk_tagset *set);
/* Tags stored as present, or < 0. */
int64_t sk_ledger_present_count(struct sk_ledger *l);

/* ---- catalog: products, tags, shelves, planogram ------------------------------------- */

struct sk_product {
    char sku[SK_LEDGER_SKU_MAX];
    char gtin[15]; /* GTIN-14 (check digit valid), "" when the product has none */
    char name[SK_LEDGER_NAME_MAX];
    int64_t price_minor;   /* price in minor units of currency (cents) */
    char currency[4];      /* ISO 4217 */
    int restock_threshold; /* total stock at or below this: an event/low_stock (0: never) */
    int restock_target;    /* what a restock should bring the total back to */
};

/* Inserts or updates a product (by sku). Returns 0, -EINVAL for a field out of bounds,
 * -EEXIST when the GTIN belongs to another sku. Joins the open transaction. */
int sk_ledger_product_put(struct sk_ledger *l, const struct sk_product *p);
/* Returns 1 and the product, 0 when unknown, < 0. */
int sk_ledger_product_get(struct sk_ledger *l, const char *sku, struct sk_product *ret_product);
/* An explicit tag -> sku mapping (for tags whose EPC does not carry a GTIN, or to override
 * it). sku must be a product. Returns 0, -ENOENT (unknown sku), -EINVAL. */
int sk_ledger_tag_put(struct sk_ledger *l, const uint8_t *epc, size_t epc_len, const char *sku);
/*
 * The sku of a tag: its explicit mapping, else, for an SGTIN-96, the product with the GTIN
 * it carries (sk_epc_decode). Returns 1 and the sku in buf, 0 when the tag maps to no
 * product, < 0 on failure.
 */
int sk_ledger_sku_for_epc(
        struct sk_ledger *l, const uint8_t *epc, size_t epc_len, char *buf, size_t size);
/* Makes the shelves table match the configuration: every configured shelf active (with its
 * reader and antenna), every other one inactive (kept: movements name it). Own transaction
 * unless one is open. Returns the number of configured shelves or < 0. */
int sk_ledger_sync_shelves(struct sk_ledger *l, const struct sk_config *cfg);
/* Which sku belongs on which shelf, and how many fit. Shelf and sku must exist. */
int sk_ledger_planogram_put(struct sk_ledger *l, const char *shelf, const char *sku, int capacity);

/* ---- imports ----------------------------------------------------------------------- */

enum sk_import_kind {
    SK_IMPORT_PRODUCTS = 0, /* sku,gtin,name,price,currency,restock_threshold,restock_target */
    SK_IMPORT_TAGS,         /* epc,sku */
    SK_IMPORT_PLANOGRAM,    /* shelf,sku,capacity */
};

enum sk_import_flags {
    SK_IMPORT_REPLACE = 1 << 0, /* rows the file does not name are removed */
    SK_IMPORT_DRY_RUN = 1 << 1, /* validate only */
    /* Only when the text differs from the last one imported of this kind: every import
     * records its text's SHA-256 in the ledger, so the daemon's start and reload re-import a
     * catalog file the operator changed, never the same one over later catalog changes
     * (a cloud catalog_upsert). */
    SK_IMPORT_IF_CHANGED = 1 << 2,
};

struct sk_import_result {
    int64_t rows; /* data rows read */
    int64_t inserted, updated, removed;
    size_t errors;  /* problems found: nothing was imported when > 0 */
    bool unchanged; /* SK_IMPORT_IF_CHANGED: the same text was imported before; nothing done */
};

/* "products", "tags", "planogram"; NULL when out of range. */
const char *sk_import_kind_name(int kind);

/* What to import and how. */
struct sk_import_opts {
    int kind;                    /* enum sk_import_kind */
    unsigned flags;              /* enum sk_import_flags */
    const struct sk_config *cfg; /* may be NULL: the shelves a planogram may name */
    struct sk_diag *diag;        /* may be NULL: where the problems go */
    const char *text;            /* NULL: read the file; else the CSV text (len bytes, borrowed),
                                  * and the path only names it in problems */
    size_t len;
};

/*
 * Imports a CSV file (formats in docs/ledger.md) in one transaction: every row is checked
 * first, and a file with any problem imports nothing. Problems go to opts->diag as
 * "FILE:LINE:COLUMN: NAME: PROBLEM" lines, at most 20 and a count of the rest. Without
 * opts->cfg, a planogram may name the ledger's shelves. Returns 0, -EINVAL when the file has
 * problems, or another error; ret (may be NULL) is always set.
 */
int sk_ledger_import(struct sk_ledger *l,
                     const char *path,
                     const struct sk_import_opts *opts,
                     struct sk_import_result *ret);

/* ---- movements and stock ------------------------------------------------------------- */

enum sk_move_type {
    SK_MOVE_PICKUP = 1, /* taken off shelf by a shopper:      shelf -q */
    SK_MOVE_PUT_BACK,   /* put (back) onto shelf:             shelf +q */
    SK_MOVE_SALE,       /* paid for at checkout: no stock change (its pickup took it off) */
    SK_MOVE_RESTOCK,    /* stocker added items:               shelf +q */
    SK_MOVE_ADJUSTMENT, /* operator correction, signed q:     shelf +q */
    SK_MOVE_SHRINK,     /* written off as lost or stolen:     shelf -q */
    SK_MOVE_MISPLACED,  /* turned up on the wrong shelf:      shelf -q, to_shelf +q */
    SK_MOVE_ROLLBACK,   /* an accepted rollback (sk_ledger_accept_rollback): no stock change */
    SK_MOVE_TYPE_COUNT
};

/* "pickup", "put_back", "sale", "restock", "adjustment", "shrink", "misplaced", "rollback";
 * NULL when out of range. parse returns the type or -EINVAL. sk_ledger_move() refuses
 * SK_MOVE_ROLLBACK: only sk_ledger_accept_rollback() writes one. */
const char *sk_move_type_name(int type);
int sk_move_type_parse(const char *name);

struct sk_movement {
    int type;           /* enum sk_move_type */
    int64_t time_us;    /* wall time it happened; 0: now */
    const uint8_t *epc; /* the tag, or NULL */
    size_t epc_len;
    const char *sku;              /* NULL: sk_ledger_sku_for_epc(epc) */
    const char *shelf;            /* the shelf whose stock changes; required except for a sale */
    const char *to_shelf;         /* misplaced: where the item turned up (required) */
    const char *session;          /* shopper session, or NULL */
    int quantity;                 /* > 0; adjustment: non-zero, signed */
    const struct cJSON *evidence; /* borrowed, may be NULL: sensors, reads, track ids, ... */
};

enum sk_move_flags {
    SK_MOVE_EVENT = 1 << 0, /* also write an event/movement outbox event (docs/ledger.md) */
    /* Inside the caller's transaction or savepoint, which it rolls back when the move fails:
     * the move then opens no savepoint of its own (a batch's movements cost a third less).
     * A move that fails after its first write leaves part of itself there, and committing
     * or releasing that transaction fails until it is rolled back. -EINVAL and -ENOENT are
     * always returned before anything is written. Without a transaction: no effect. */
    SK_MOVE_IN_BATCH = 1 << 1,
};

struct sk_movement_result {
    int64_t id;          /* movement id: 1, 2, ... in chain order */
    int64_t event_seq;   /* seq of its event/movement, 0 without SK_MOVE_EVENT */
    int64_t shelf_stock; /* stock of (shelf, sku) after it */
    char sku[SK_LEDGER_SKU_MAX];
    char hash[SK_LEDGER_HASH_HEX]; /* the new chain head */
};

/*
 * Appends one movement to the hash chain, applies it to the stock, writes its event (with
 * SK_MOVE_EVENT) and, when the sku's total stock falls to its restock threshold, an
 * event/low_stock: all or nothing (a savepoint inside an open transaction, else its own
 * transaction; with SK_MOVE_IN_BATCH the caller's transaction is the unit). Returns 0 and
 * ret (may be NULL); -EINVAL for an invalid movement, -ENOENT for an unknown sku, shelf or
 * unmapped tag (message in sk_ledger_errmsg).
 */
int sk_ledger_move(struct sk_ledger *l,
                   const struct sk_movement *m,
                   unsigned flags,
                   struct sk_movement_result *ret);

/* Stock of one (shelf, sku); 0 when never stocked. Returns 0 or < 0. */
int sk_ledger_stock_get(struct sk_ledger *l,
                        const char *shelf,
                        const char *sku,
                        int64_t *ret_quantity);

struct sk_stock_row {
    const char *shelf;
    const char *sku;
    const char *name; /* product name */
    int64_t quantity;
    int capacity;       /* planogram capacity, 0 if not planned there */
    bool planned;       /* the planogram puts this sku on this shelf */
    int64_t updated_us; /* last movement that changed it, 0 if never */
};

typedef int (*sk_stock_cb)(const struct sk_stock_row *row, void *ctx);
/* Stock rows and planned-but-empty planogram slots, by shelf then sku; shelf and sku filter
 * when non-NULL. Returns rows visited, cb's non-zero value, or < 0. */
int sk_ledger_stock(
        struct sk_ledger *l, const char *shelf, const char *sku, sk_stock_cb cb, void *ctx);

/* One movement as stored; borrowed for the callback. */
struct sk_movement_row {
    int64_t id;
    int64_t time_us, recorded_us;
    const char *type;
    const char *epc;                              /* upper-case hex, "" when none */
    const char *sku, *shelf, *to_shelf, *session; /* "" when none */
    int64_t quantity;
    const char *evidence; /* JSON text, "" when none */
    int64_t event_seq;    /* 0 when none */
    const char *hash;     /* hex */
};

typedef int (*sk_movement_cb)(const struct sk_movement_row *row, void *ctx);

struct sk_movement_filter {
    int64_t since_us;    /* time_us >= since_us (0: all) */
    int64_t after_id;    /* id > after_id */
    const char *session; /* NULL: any */
    const char *sku;     /* NULL: any */
    const char *shelf;   /* NULL: any (matches shelf or to_shelf) */
    size_t limit;        /* 0: no limit */
};

/* Movements in id (chain) order. Returns rows visited, cb's non-zero value, or < 0. */
int sk_ledger_movements(struct sk_ledger *l,
                        const struct sk_movement_filter *f,
                        sk_movement_cb cb,
                        void *ctx);

struct sk_verify_result {
    int64_t movements;             /* rows checked */
    int64_t first_bad_id;          /* the first movement found wrong, 0 when none is */
    char reason[640];              /* what is wrong (the first problem found) */
    char head[SK_LEDGER_HASH_HEX]; /* hash of the last movement ("" when none) */
    /* Which check found it: "chain", "stock", "event", "outbox", "anchor"; "" when none. */
    char check[8];
    int64_t legacy_movements; /* hashed before schema 4: recorded_us and event_seq not covered */
    int64_t stock_rows;       /* (shelf, sku) totals recomputed from the movements */
    int64_t events;           /* movements whose outbox event was compared with them */
    int64_t events_pruned;    /* movements whose event was delivered and pruned */
    int64_t digests;          /* outbox rows whose digest was recomputed */
    int64_t legacy_events;    /* outbox rows written before schema 4 (no digest) */
    bool anchored;            /* the anchor file was compared */
};

/*
 * The whole book (docs/ledger.md, "ledger verify"): the hash chain from the first movement
 * (hash version 2 also covers recorded_us and event_seq); the stock table against the sum of
 * the movements; each movement's outbox event (while kept) against the movement; every outbox
 * row's digest; and, with SK_LEDGER_ANCHOR, the end of the book against the anchor (a deleted
 * newest movement or event shows there). Returns 0 when all holds, SK_ELEDGER_CHAIN (content)
 * or SK_ELEDGER_ROLLBACK (behind the anchor) with the first problem in ret, or < 0.
 */
int sk_ledger_verify(struct sk_ledger *l, struct sk_verify_result *ret);

/*
 * Long operations report their progress to cb: verify ("verify", movements walked of the
 * total), export (rows written) and import (rows read, then rows written of the total),
 * every 1024 rows and at the end.
 * total is 0 when not known. NULL: none.
 */
typedef void (*sk_ledger_progress_cb)(const char *what, int64_t done, int64_t total, void *ctx);
void sk_ledger_set_progress(struct sk_ledger *l, sk_ledger_progress_cb cb, void *ctx);

/* ---- census ---------------------------------------------------------------------------- */

struct sk_discrepancy;

/* Whether a shelf's reader can be trusted now (the core: its reader reports "up"). */
typedef bool (*sk_census_shelf_cb)(const struct sk_shelf_cfg *shelf, void *ctx);

typedef int (*sk_discrepancy_cb)(const struct sk_discrepancy *d, void *ctx);

struct sk_census_opts {
    sk_census_shelf_cb usable; /* NULL: every shelf */
    void *ctx;                 /* usable's */
    sk_discrepancy_cb seen;    /* NULL, or sees every finding and every resolution */
    void *seen_ctx;
    bool dry_run;    /* compute and report; write nothing (no rows, no events) */
    size_t max_epcs; /* EPCs listed per discrepancy event (0: 20) */
};

struct sk_discrepancy {
    int64_t id;
    const char *kind; /* "missing", "unexpected", "misplaced" */
    const char *shelf;
    const char *sku;   /* "" for tags that map to no product */
    int64_t expected;  /* stock the movements say */
    int64_t seen;      /* tags the readers see */
    int64_t quantity;  /* how many are missing, unexpected or misplaced */
    const char *state; /* "open" (new), "changed", "unchanged", "resolved" */
    int64_t opened_us, updated_us, resolved_us;
};

struct sk_census_result {
    int64_t census_id;
    size_t shelves, shelves_skipped; /* usable shelves checked; shelves left out */
    size_t tags;                     /* present tags on usable shelves */
    size_t tags_elsewhere;           /* present tags at readers/antennas of no shelf */
    size_t unknown_tags;             /* tags mapping to no product */
    size_t open;                     /* findings open after this census */
    size_t opened, changed, resolved;
    int64_t duration_us;
};

/*
 * Compares the expected stock of every usable shelf with the tags present there (docs/
 * ledger.md, "Census"), opens, changes and resolves discrepancies, and writes one
 * event/discrepancy for each of those, in one transaction. opts (may be NULL: every shelf, no
 * callback) and present and cfg are borrowed. Returns 0 or < 0.
 */
int sk_ledger_census(struct sk_ledger *l,
                     const struct sk_config *cfg,
                     const struct sk_tagset *present,
                     const struct sk_census_opts *opts,
                     struct sk_census_result *ret);

/* Open discrepancies (and resolved ones too with include_resolved), oldest first. */
int sk_ledger_discrepancies(struct sk_ledger *l,
                            bool include_resolved,
                            sk_discrepancy_cb cb,
                            void *ctx);

/* ---- sessions ---------------------------------------------------------------------------- */

/* A shopper session (fusion): opened once, closed once with a state word ([a-z_]+, e.g.
 * "checked_out", "abandoned"). detail is borrowed JSON (may be NULL). Return 0, -EEXIST
 * (open: id exists), -ENOENT (close: unknown or already closed), -EINVAL. */
int sk_ledger_session_open(struct sk_ledger *l,
                           const char *id,
                           int64_t time_us,
                           const struct cJSON *detail);
int sk_ledger_session_close(struct sk_ledger *l,
                            const char *id,
                            int64_t time_us,
                            const char *state);

/* ---- command requests: exactly-once effects ------------------------------------------ */

/*
 * The reply the device gave to a state-changing cloud command, by sender (the topic's
 * identity, "" when none) and request_id, kept in the transaction that applied the command:
 * a command that arrives again (MQTT QoS 1 redelivery, a cloud retry after a lost reply, a
 * restart in between) is answered with it and not applied again (docs/mqtt.md, "Exactly once").
 */
#define SK_LEDGER_REQUEST_RESULT_MAX 2048 /* result JSON text, with NUL */

struct sk_ledger_request {
    char command[32];     /* command name */
    uint64_t fingerprint; /* of the command's payload: a request id reused for another command */
    char result[SK_LEDGER_REQUEST_RESULT_MAX]; /* the outcome, JSON text (command.h) */
    int64_t recorded_us;                       /* when it was applied (wall clock) */
};

/* Returns 1 and the record, 0 when there is none, < 0. identity may be "". */
int sk_ledger_request_get(struct sk_ledger *l,
                          const char *identity,
                          const char *request_id,
                          struct sk_ledger_request *ret);
/* Records a reply (recorded_us 0: now), joining the open transaction, and keeps at most
 * keep_max records (the oldest go first; 0: no bound). Returns 0, -EINVAL, < 0. */
int sk_ledger_request_put(struct sk_ledger *l,
                          const char *identity,
                          const char *request_id,
                          const struct sk_ledger_request *req,
                          int64_t keep_max);
/* Deletes records older than keep_s seconds (own transaction unless one is open). Returns the
 * number deleted or < 0. */
int sk_ledger_request_expire(struct sk_ledger *l, int64_t keep_s);

/* ---- component state --------------------------------------------------------------------- */

/*
 * Durable state of a component that must commit and roll back with the movements and events
 * it belongs to (fusion: open sessions with their carts, undecided departures): JSON text
 * under a key of 1..127 characters [A-Za-z0-9._:/-], at most SK_LEDGER_STATE_MAX bytes.
 * put joins the open transaction; text NULL deletes the key. Returns 0, -EINVAL or < 0.
 */
#define SK_LEDGER_STATE_MAX (4 * 1024 * 1024)
int sk_ledger_state_put(struct sk_ledger *l, const char *key, const char *text);
/* Calls cb for every key that starts with prefix, in key order (borrowed strings). Returns
 * the keys visited, cb's non-zero value, or < 0. */
typedef int (*sk_state_cb)(const char *key, const char *text, void *ctx);
int sk_ledger_state_list(struct sk_ledger *l, const char *prefix, sk_state_cb cb, void *ctx);

/* Writes a consistent copy of the ledger as it is committed now to dest_path (a new file:
 * an existing one is refused), with SQLite's backup API: `run --record` keeps the ledger a
 * recording starts from, so `replay` starts where the run did. Returns 0 or < 0. */
int sk_ledger_backup(struct sk_ledger *l, const char *dest_path);

/* ---- inspection and export -------------------------------------------------------------- */

enum sk_export_format {
    SK_EXPORT_CSV,  /* header row; products, tags and planogram re-import as they are */
    SK_EXPORT_JSON, /* an array of objects */
};

/* Writes table (sk_ledger_export_tables() lists them) to out; rows with a time before
 * since_us are left out where the table has a time. Returns the rows written or < 0. */
int sk_ledger_export(struct sk_ledger *l,
                     const char *table,
                     enum sk_export_format format,
                     int64_t since_us,
                     FILE *out);
/* "products, tags, planogram, ...": the tables sk_ledger_export knows. Static string. */
const char *sk_ledger_export_tables(void);

/* Formats minor units as a decimal in the currency's unit ("1.49", "120" for JPY). */
int sk_ledger_format_price(int64_t minor, const char *currency, char *buf, size_t size);

struct sk_ledger_counts {
    int64_t products, tags, shelves, shelves_active, planogram;
    int64_t movements, sessions, present, discrepancies_open;
    int64_t stock_total;    /* sum of all stock */
    int64_t last_census_us; /* 0: never */
    int64_t file_bytes, free_bytes;
};

int sk_ledger_counts(struct sk_ledger *l, struct sk_ledger_counts *ret);

/* PRAGMA integrity_check (the full one, slower than quick_check). Returns 0 when "ok",
 * SK_ELEDGER_CORRUPT with its findings in buf, or < 0. */
int sk_ledger_integrity_check(struct sk_ledger *l, char *buf, size_t size);

/* ---- operations ------------------------------------------------------------------------ */

/* Limits the database to max_bytes (PRAGMA max_page_count; 0: no limit beyond the disk).
 * Writes beyond fail with SK_ELEDGER_FULL. Returns 0 or < 0. */
int sk_ledger_set_max_size(struct sk_ledger *l, int64_t max_bytes);

/* True after a write failed with SK_ELEDGER_FULL, until a commit succeeds again. */
bool sk_ledger_is_full(const struct sk_ledger *l);

#endif
