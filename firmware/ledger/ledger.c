/* SPDX-License-Identifier: MIT */
/* The ledger's connection: opening and refusing files, schema migrations, transactions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "ledger_internal.h"
#include "storekeeper/error.h"
#include "storekeeper/uuid.h"

/*
 * DESIGN
 * A ledger file is ours when PRAGMA application_id is SK_LEDGER_APPLICATION_ID; its schema
 * version is PRAGMA user_version. Opening never writes to a file it does not recognise: an
 * SQLite file with tables but another application id, a newer version, a failing
 * quick_check or bytes that are not SQLite at all are refused with a sentence naming the
 * file. Only a missing or empty (0 bytes, no tables) file is initialised.
 *
 * Migrations are plain SQL, one per version step, each run in its own IMMEDIATE transaction
 * together with the user_version bump, so a power cut leaves the file at the old or the new
 * version. Before the first step on an existing file the ledger copies itself to
 * PATH.vN.bak with SQLite's backup API: a migration can be undone by hand.
 *
 * Durability (docs/ledger.md): WAL with synchronous=FULL. In WAL mode FULL syncs the WAL on
 * every commit, so a commit that returned is on disk: an event the MQTT link published can
 * never be rolled back by a power cut and its seq reused for another event. Batching
 * observations into one transaction keeps that to one fsync per batch.
 */

static const char *const stmt_sql[ST_COUNT] = {
        [ST_LAST_SEQ] = "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
        [ST_EVENT_INSERT] = "INSERT INTO outbox (seq, id, topic, payload, created_us, digest) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [ST_PENDING] = "SELECT seq, id, topic, payload, created_us, 0 FROM outbox "
                       "WHERE delivered_us IS NULL AND seq > ?1 AND seq <= ?2 "
                       "ORDER BY seq LIMIT ?3",
        [ST_ROWS] = "SELECT seq, id, topic, payload, created_us, coalesce(delivered_us, 0) "
                    "FROM outbox WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
        [ST_ROWS_PENDING] = "SELECT seq, id, topic, payload, created_us, 0 FROM outbox "
                            "WHERE delivered_us IS NULL AND seq > ?1 AND seq <= ?2 "
                            "ORDER BY seq LIMIT ?3",
        [ST_DELIVER] = "UPDATE outbox SET delivered_us = ?2 "
                       "WHERE seq = ?1 AND delivered_us IS NULL",
        [ST_PENDING_COUNT] = "SELECT count(*) FROM outbox WHERE delivered_us IS NULL",
        [ST_DELIVERED_COUNT] = "SELECT count(*) FROM outbox WHERE delivered_us IS NOT NULL",
        [ST_OLDEST_PENDING] = "SELECT seq, created_us FROM outbox WHERE delivered_us IS NULL "
                              "ORDER BY seq LIMIT 1",
        [ST_LAST_DELIVERED] = "SELECT max(seq) FROM outbox WHERE delivered_us IS NOT NULL",
        [ST_PRUNE_AGE] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                         "WHERE delivered_us IS NOT NULL AND delivered_us < ?1 "
                         "ORDER BY seq LIMIT ?2)",
        [ST_PRUNE_COUNT] = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                           "WHERE delivered_us IS NOT NULL ORDER BY seq DESC "
                           "LIMIT ?2 OFFSET ?1)",
        [ST_RESEND_COUNT] = "SELECT count(*), count(delivered_us) FROM outbox "
                            "WHERE seq >= ?1 AND seq <= ?2",
        [ST_RESEND] = "UPDATE outbox SET delivered_us = NULL "
                      "WHERE seq >= ?1 AND seq <= ?2 AND delivered_us IS NOT NULL",
        [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [ST_PRESENT_ADD] = "INSERT OR IGNORE INTO present (reader, antenna, epc, since_us) "
                           "VALUES (?1, ?2, ?3, ?4)",
        [ST_PRESENT_DEL] = "DELETE FROM present WHERE reader = ?1 AND antenna = ?2 AND epc = ?3",
        [ST_PRESENT_ALL] = "SELECT reader, antenna, epc, since_us FROM present",
        [ST_PRESENT_CLEAR] = "DELETE FROM present",
        [ST_PRESENT_COUNT] = "SELECT count(*) FROM present",
        [ST_PRODUCT_PUT] =
                "INSERT INTO products (sku, gtin, name, price_minor, currency, restock_threshold, "
                "restock_target, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                "ON CONFLICT (sku) DO UPDATE SET gtin = excluded.gtin, name = excluded.name, "
                "price_minor = excluded.price_minor, currency = excluded.currency, "
                "restock_threshold = excluded.restock_threshold, "
                "restock_target = excluded.restock_target, updated_us = excluded.updated_us",
        [ST_PRODUCT_GET] = "SELECT sku, coalesce(gtin, ''), name, price_minor, currency, "
                           "restock_threshold, restock_target FROM products WHERE sku = ?1",
        [ST_PRODUCT_BY_GTIN] = "SELECT sku FROM products WHERE gtin = ?1",
        [ST_TAG_PUT] = "INSERT INTO tags (epc, sku, updated_us) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (epc) DO UPDATE SET sku = excluded.sku, "
                       "updated_us = excluded.updated_us",
        [ST_TAG_GET] = "SELECT sku FROM tags WHERE epc = ?1",
        [ST_SHELF_PUT] = "INSERT INTO shelves (name, reader, antenna, zone, active, updated_us) "
                         "VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (name) DO UPDATE SET "
                         "reader = excluded.reader, antenna = excluded.antenna, "
                         "zone = excluded.zone, active = 1, updated_us = excluded.updated_us",
        [ST_SHELF_DEACTIVATE] = "UPDATE shelves SET active = 0, updated_us = ?1 WHERE active",
        [ST_SHELF_EXISTS] = "SELECT active FROM shelves WHERE name = ?1",
        [ST_PLANO_PUT] = "INSERT INTO planogram (shelf, sku, capacity, updated_us) "
                         "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (shelf, sku) DO UPDATE SET "
                         "capacity = excluded.capacity, updated_us = excluded.updated_us",
        [ST_PLANO_GET] = "SELECT capacity FROM planogram WHERE shelf = ?1 AND sku = ?2",
        [ST_LAST_MOVE] = "SELECT id, hash FROM movements ORDER BY id DESC LIMIT 1",
        [ST_MOVE_INSERT] = "INSERT INTO movements (id, time_us, recorded_us, type, epc, sku, "
                           "shelf, to_shelf, session, quantity, evidence, event_seq, prev_hash, "
                           "hash, hash_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                           "?11, ?12, ?13, ?14, 2)",
        /* The new quantity itself, read just before: an upsert with RETURNING would fill a
         * temporary table on every call. */
        [ST_STOCK_UPDATE] = "UPDATE stock SET quantity = ?3, updated_us = ?4 "
                            "WHERE shelf = ?1 AND sku = ?2",
        [ST_STOCK_SET] = "INSERT INTO stock (shelf, sku, quantity, updated_us) "
                         "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (shelf, sku) DO UPDATE SET "
                         "quantity = excluded.quantity, updated_us = excluded.updated_us",
        [ST_DATA_VERSION] = "PRAGMA data_version",
        [ST_SYNC_GET] = "PRAGMA synchronous",
        [ST_PRODUCT_LEVELS] = "SELECT restock_threshold, restock_target FROM products "
                              "WHERE sku = ?1",
        [ST_SAVEPOINT_1] = "SAVEPOINT sk1",
        [ST_SAVEPOINT_2] = "SAVEPOINT sk2",
        [ST_SAVEPOINT_3] = "SAVEPOINT sk3",
        [ST_RELEASE_1] = "RELEASE sk1",
        [ST_RELEASE_2] = "RELEASE sk2",
        [ST_RELEASE_3] = "RELEASE sk3",
        [ST_ROLLBACK_TO_1] = "ROLLBACK TO sk1",
        [ST_ROLLBACK_TO_2] = "ROLLBACK TO sk2",
        [ST_ROLLBACK_TO_3] = "ROLLBACK TO sk3",
        [ST_STOCK_GET] = "SELECT quantity FROM stock WHERE shelf = ?1 AND sku = ?2",
        [ST_STOCK_TOTAL] = "SELECT coalesce(sum(quantity), 0) FROM stock WHERE sku = ?1",
        [ST_STOCK_LIST] =
                "SELECT k.shelf, k.sku, coalesce(p.name, ''), coalesce(s.quantity, 0), "
                "coalesce(g.capacity, 0), g.sku IS NOT NULL, coalesce(s.updated_us, 0) "
                "FROM (SELECT shelf, sku FROM stock UNION SELECT shelf, sku FROM planogram) k "
                "LEFT JOIN stock s ON s.shelf = k.shelf AND s.sku = k.sku "
                "LEFT JOIN planogram g ON g.shelf = k.shelf AND g.sku = k.sku "
                "LEFT JOIN products p ON p.sku = k.sku "
                "WHERE (?1 IS NULL OR k.shelf = ?1) AND (?2 IS NULL OR k.sku = ?2) "
                "ORDER BY k.shelf, k.sku",
        [ST_MOVE_LIST] =
                "SELECT id, time_us, recorded_us, type, coalesce(hex(epc), ''), sku, "
                "coalesce(shelf, ''), coalesce(to_shelf, ''), coalesce(session, ''), quantity, "
                "coalesce(evidence, ''), coalesce(event_seq, 0), hex(hash) FROM movements "
                "WHERE id > ?1 AND time_us >= ?2 AND (?3 IS NULL OR session = ?3) "
                "AND (?4 IS NULL OR sku = ?4) AND (?5 IS NULL OR shelf = ?5 OR to_shelf = ?5) "
                "ORDER BY id LIMIT ?6",
        [ST_MOVE_CHAIN] = "SELECT id, time_us, recorded_us, type, epc, sku, shelf, to_shelf, "
                          "session, quantity, evidence, prev_hash, hash, event_seq, hash_version "
                          "FROM movements WHERE id >= ?1 ORDER BY id LIMIT ?2",
        [ST_SESSION_OPEN] = "INSERT INTO sessions (id, opened_us, state, detail) "
                            "VALUES (?1, ?2, 'open', ?3)",
        [ST_SESSION_CLOSE] = "UPDATE sessions SET closed_us = ?2, state = ?3 "
                             "WHERE id = ?1 AND closed_us IS NULL",
        [ST_REQUEST_GET] = "SELECT command, fingerprint, result, recorded_us FROM requests "
                           "WHERE identity = ?1 AND request_id = ?2",
        [ST_REQUEST_PUT] = "INSERT INTO requests (identity, request_id, command, fingerprint, "
                           "result, recorded_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                           "ON CONFLICT (identity, request_id) DO UPDATE SET "
                           "command = excluded.command, fingerprint = excluded.fingerprint, "
                           "result = excluded.result, recorded_us = excluded.recorded_us",
        [ST_REQUEST_EXPIRE] = "DELETE FROM requests WHERE recorded_us < ?1",
        [ST_REQUEST_TRIM] = "DELETE FROM requests WHERE recorded_us < (SELECT recorded_us FROM "
                            "requests ORDER BY recorded_us DESC LIMIT 1 OFFSET ?1)",
        [ST_EVENT_ID] = "SELECT id FROM outbox WHERE seq = ?1",
        [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
        [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
};

/* ---- schema ------------------------------------------------------------------------ */

/*
 * sk_ledger_migrations[i] takes a ledger from version i to i + 1. Never edit a step that
 * has been released: add a new one and bump SK_LEDGER_SCHEMA_VERSION.
 */
const char *const sk_ledger_migrations[SK_LEDGER_SCHEMA_VERSION] = {
        /* 0 -> 1: identity, the outbox, the present-tag set. */
        "CREATE TABLE meta (\n"
        "  key TEXT PRIMARY KEY,\n"
        "  value TEXT NOT NULL\n"
        ") WITHOUT ROWID;\n"
        "CREATE TABLE outbox (\n"
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  id TEXT NOT NULL UNIQUE,\n"
        "  topic TEXT NOT NULL,\n"
        "  payload TEXT NOT NULL,\n"
        "  created_us INTEGER NOT NULL,\n"
        "  delivered_us INTEGER\n"
        ");\n"
        "CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_us IS NULL;\n"
        "CREATE INDEX outbox_delivered ON outbox (seq) WHERE delivered_us IS NOT NULL;\n"
        "CREATE TABLE present (\n"
        "  reader TEXT NOT NULL,\n"
        "  antenna INTEGER NOT NULL,\n"
        "  epc BLOB NOT NULL,\n"
        "  since_us INTEGER NOT NULL,\n"
        "  PRIMARY KEY (reader, antenna, epc)\n"
        ") WITHOUT ROWID;\n",

        /* 1 -> 2: catalog, planogram, sessions, movements (hash chain), stock, census. */
        "CREATE TABLE products (\n"
        "  sku TEXT PRIMARY KEY,\n"
        "  gtin TEXT UNIQUE,\n"
        "  name TEXT NOT NULL,\n"
        "  price_minor INTEGER NOT NULL CHECK (price_minor >= 0),\n"
        "  currency TEXT NOT NULL CHECK (length(currency) = 3),\n"
        "  restock_threshold INTEGER NOT NULL DEFAULT 0 CHECK (restock_threshold >= 0),\n"
        "  restock_target INTEGER NOT NULL DEFAULT 0 CHECK (restock_target >= 0),\n"
        "  updated_us INTEGER NOT NULL\n"
        ") WITHOUT ROWID;\n"
        "CREATE TABLE tags (\n"
        "  epc BLOB PRIMARY KEY,\n"
        "  sku TEXT NOT NULL REFERENCES products (sku),\n"
        "  updated_us INTEGER NOT NULL\n"
        ") WITHOUT ROWID;\n"
        "CREATE INDEX tags_sku ON tags (sku);\n"
        "CREATE TABLE shelves (\n"
        "  name TEXT PRIMARY KEY,\n"
        "  reader TEXT NOT NULL DEFAULT '',\n"
        "  antenna INTEGER NOT NULL DEFAULT 0,\n"
        "  zone TEXT NOT NULL DEFAULT '',\n"
        "  active INTEGER NOT NULL DEFAULT 1,\n"
        "  updated_us INTEGER NOT NULL\n"
        ") WITHOUT ROWID;\n"
        "CREATE TABLE planogram (\n"
        "  shelf TEXT NOT NULL REFERENCES shelves (name),\n"
        "  sku TEXT NOT NULL REFERENCES products (sku),\n"
        "  capacity INTEGER NOT NULL DEFAULT 0 CHECK (capacity >= 0),\n"
        "  updated_us INTEGER NOT NULL,\n"
        "  PRIMARY KEY (shelf, sku)\n"
        ") WITHOUT ROWID;\n"
        "CREATE INDEX planogram_sku ON planogram (sku);\n"
        "CREATE TABLE sessions (\n"
        "  id TEXT PRIMARY KEY,\n"
        "  opened_us INTEGER NOT NULL,\n"
        "  closed_us INTEGER,\n"
        "  state TEXT NOT NULL DEFAULT 'open',\n"
        "  detail TEXT\n"
        ") WITHOUT ROWID;\n"
        "CREATE TABLE movements (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  time_us INTEGER NOT NULL,\n"
        "  recorded_us INTEGER NOT NULL,\n"
        "  type TEXT NOT NULL CHECK (type IN ('pickup', 'put_back', 'sale', 'restock',\n"
        "    'adjustment', 'shrink', 'misplaced')),\n"
        "  epc BLOB,\n"
        "  sku TEXT NOT NULL,\n"
        "  shelf TEXT,\n"
        "  to_shelf TEXT,\n"
        "  session TEXT,\n"
        "  quantity INTEGER NOT NULL,\n"
        "  evidence TEXT,\n"
        "  event_seq INTEGER,\n"
        "  prev_hash BLOB NOT NULL,\n"
        "  hash BLOB NOT NULL\n"
        ");\n"
        "CREATE INDEX movements_time ON movements (time_us);\n"
        "CREATE INDEX movements_session ON movements (session) WHERE session IS NOT NULL;\n"
        "CREATE INDEX movements_sku ON movements (sku);\n"
        "CREATE TRIGGER movements_append_only_update BEFORE UPDATE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n"
        "CREATE TRIGGER movements_append_only_delete BEFORE DELETE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n"
        "CREATE TABLE stock (\n"
        "  shelf TEXT NOT NULL,\n"
        "  sku TEXT NOT NULL,\n"
        "  quantity INTEGER NOT NULL,\n"
        "  updated_us INTEGER NOT NULL,\n"
        "  PRIMARY KEY (shelf, sku)\n"
        ") WITHOUT ROWID;\n"
        "CREATE INDEX stock_sku ON stock (sku);\n"
        "CREATE TABLE discrepancies (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  kind TEXT NOT NULL CHECK (kind IN ('missing', 'unexpected', 'misplaced')),\n"
        "  shelf TEXT NOT NULL,\n"
        "  sku TEXT NOT NULL,\n"
        "  quantity INTEGER NOT NULL,\n"
        "  expected INTEGER NOT NULL,\n"
        "  seen INTEGER NOT NULL,\n"
        "  opened_us INTEGER NOT NULL,\n"
        "  updated_us INTEGER NOT NULL,\n"
        "  resolved_us INTEGER,\n"
        "  census INTEGER NOT NULL,\n"
        "  event_seq INTEGER\n"
        ");\n"
        "CREATE UNIQUE INDEX discrepancies_open ON discrepancies (kind, shelf, sku)\n"
        "  WHERE resolved_us IS NULL;\n"
        "CREATE TABLE census (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  time_us INTEGER NOT NULL,\n"
        "  duration_us INTEGER NOT NULL,\n"
        "  shelves INTEGER NOT NULL,\n"
        "  shelves_skipped INTEGER NOT NULL,\n"
        "  tags INTEGER NOT NULL,\n"
        "  unknown_tags INTEGER NOT NULL,\n"
        "  opened INTEGER NOT NULL,\n"
        "  changed INTEGER NOT NULL,\n"
        "  resolved INTEGER NOT NULL\n"
        ");\n",

        /* 2 -> 3: the replies to cloud commands by sender and request id (exactly once). */
        "CREATE TABLE requests (\n"
        "  identity TEXT NOT NULL,\n"
        "  request_id TEXT NOT NULL,\n"
        "  command TEXT NOT NULL,\n"
        "  fingerprint INTEGER NOT NULL,\n"
        "  result TEXT NOT NULL,\n"
        "  recorded_us INTEGER NOT NULL,\n"
        "  PRIMARY KEY (identity, request_id)\n"
        ") WITHOUT ROWID;\n"
        "CREATE INDEX requests_age ON requests (recorded_us);\n",

        /* 3 -> 4: movements also hash when they were recorded and their event's seq (hash
         * version 2; the rows before keep version 1), and may record an accepted rollback
         * (the type is a CHECK: the table is rebuilt, its rows kept as they are); outbox rows
         * carry a digest of what they say. */
        "CREATE TABLE movements_v4 (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  time_us INTEGER NOT NULL,\n"
        "  recorded_us INTEGER NOT NULL,\n"
        "  type TEXT NOT NULL CHECK (type IN ('pickup', 'put_back', 'sale', 'restock',\n"
        "    'adjustment', 'shrink', 'misplaced', 'rollback')),\n"
        "  epc BLOB,\n"
        "  sku TEXT NOT NULL,\n"
        "  shelf TEXT,\n"
        "  to_shelf TEXT,\n"
        "  session TEXT,\n"
        "  quantity INTEGER NOT NULL,\n"
        "  evidence TEXT,\n"
        "  event_seq INTEGER,\n"
        "  prev_hash BLOB NOT NULL,\n"
        "  hash BLOB NOT NULL,\n"
        "  hash_version INTEGER NOT NULL DEFAULT 1\n"
        ");\n"
        "INSERT INTO movements_v4 (id, time_us, recorded_us, type, epc, sku, shelf, to_shelf,\n"
        "  session, quantity, evidence, event_seq, prev_hash, hash, hash_version)\n"
        "  SELECT id, time_us, recorded_us, type, epc, sku, shelf, to_shelf, session, quantity,\n"
        "  evidence, event_seq, prev_hash, hash, 1 FROM movements;\n"
        "DROP TABLE movements;\n"
        "ALTER TABLE movements_v4 RENAME TO movements;\n"
        "CREATE INDEX movements_time ON movements (time_us);\n"
        "CREATE INDEX movements_session ON movements (session) WHERE session IS NOT NULL;\n"
        "CREATE INDEX movements_sku ON movements (sku);\n"
        "CREATE INDEX movements_event ON movements (event_seq) WHERE event_seq IS NOT NULL;\n"
        "CREATE TRIGGER movements_append_only_update BEFORE UPDATE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n"
        "CREATE TRIGGER movements_append_only_delete BEFORE DELETE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n"
        "ALTER TABLE outbox ADD COLUMN digest BLOB;\n",

        /* 4 -> 5: the type CHECK as comparisons. SQLite evaluates an IN list of more than two
         * constants by building a temporary index of them for every row inserted: a quarter
         * of a movement's CPU. Same names, same rows, copied as they are. */
        "CREATE TABLE movements_v5 (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  time_us INTEGER NOT NULL,\n"
        "  recorded_us INTEGER NOT NULL,\n"
        "  type TEXT NOT NULL CHECK (type = 'pickup' OR type = 'put_back' OR type = 'sale'\n"
        "    OR type = 'restock' OR type = 'adjustment' OR type = 'shrink'\n"
        "    OR type = 'misplaced' OR type = 'rollback'),\n"
        "  epc BLOB,\n"
        "  sku TEXT NOT NULL,\n"
        "  shelf TEXT,\n"
        "  to_shelf TEXT,\n"
        "  session TEXT,\n"
        "  quantity INTEGER NOT NULL,\n"
        "  evidence TEXT,\n"
        "  event_seq INTEGER,\n"
        "  prev_hash BLOB NOT NULL,\n"
        "  hash BLOB NOT NULL,\n"
        "  hash_version INTEGER NOT NULL DEFAULT 1\n"
        ");\n"
        "INSERT INTO movements_v5 (id, time_us, recorded_us, type, epc, sku, shelf, to_shelf,\n"
        "  session, quantity, evidence, event_seq, prev_hash, hash, hash_version)\n"
        "  SELECT id, time_us, recorded_us, type, epc, sku, shelf, to_shelf, session, quantity,\n"
        "  evidence, event_seq, prev_hash, hash, hash_version FROM movements;\n"
        "DROP TABLE movements;\n"
        "ALTER TABLE movements_v5 RENAME TO movements;\n"
        "CREATE INDEX movements_time ON movements (time_us);\n"
        "CREATE INDEX movements_session ON movements (session) WHERE session IS NOT NULL;\n"
        "CREATE INDEX movements_sku ON movements (sku);\n"
        "CREATE INDEX movements_event ON movements (event_seq) WHERE event_seq IS NOT NULL;\n"
        "CREATE TRIGGER movements_append_only_update BEFORE UPDATE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n"
        "CREATE TRIGGER movements_append_only_delete BEFORE DELETE ON movements\n"
        "BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;\n",
};

/* ---- helpers ----------------------------------------------------------------------- */

/*
 * SQLite's result codes become storekeeper's here and nowhere else (the message keeps
 * SQLite's own words). Extended codes are looked at where they say more than the primary one:
 * a constraint is a duplicate, a missing reference, a refused change (the append-only
 * triggers) or a bad value; a write that failed with ENOSPC or EDQUOT is a full disk even
 * when SQLite reports it as an I/O error.
 */
int ledger_sqlite_err(int rc)
{
    switch (rc) {
    case SQLITE_IOERR_NOMEM:
        return -ENOMEM;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_TRIGGER:
        return -EPERM;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_DATATYPE:
        return -EINVAL;
    case SQLITE_CANTOPEN_ISDIR:
        return -EISDIR;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return SK_ELEDGER_FULL;
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
        return SK_ELEDGER_CORRUPT;
    case SQLITE_NOTADB:
        return SK_ELEDGER_SCHEMA;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
        return -EBUSY;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_IOERR:
        return -EIO;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_TOOBIG:
        return -EMSGSIZE;
    case SQLITE_NOLFS:
        return -EFBIG;
    case SQLITE_INTERRUPT:
        return -EINTR;
    case SQLITE_SCHEMA:
        return -EAGAIN;
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
        return -EINVAL;
    default:
        return SK_ELEDGER;
    }
}

/* ledger_sqlite_err with what the operating system said: a full disk, whatever SQLite calls it. */
static int sqlite_err_db(sqlite3 *db, int rc)
{
    int err = ledger_sqlite_err(rc);
    if (db && (err == -EIO || err == SK_ELEDGER)) {
        int sys = sqlite3_system_errno(db);
        if (sys == ENOSPC || sys == EDQUOT) {
            return SK_ELEDGER_FULL;
        }
    }
    return err;
}

int ledger_err(const struct sk_ledger *l)
{
    return l->err < 0 ? l->err : SK_ELEDGER;
}

int ledger_failf(struct sk_ledger *l, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof(l->errmsg), fmt, ap);
    va_end(ap);
    ledger_one_line(l->errmsg, sizeof(l->errmsg)); /* SQLite quotes schema text */
    l->err = err;
    if (err == SK_ELEDGER_FULL) {
        l->full = true;
    }
    return err;
}

int ledger_fail(struct sk_ledger *l, int rc, const char *what)
{
    int err = sqlite_err_db(l->db, rc);
    if (err == 0) {
        err = SK_ELEDGER;
    }
    ledger_failf(l, err, "%s: %s (SQLite %d)", what, l->db ? sqlite3_errmsg(l->db) : "", rc);
    /* Some errors (full, I/O, no memory) make SQLite roll the whole transaction back. */
    if (l->depth > 0 && l->db && sqlite3_get_autocommit(l->db) && !l->aborted) {
        l->aborted = true;
        l->abort_err = err;
    }
    return err;
}

int ledger_each_row(struct sk_ledger *l,
                    sqlite3_stmt *s,
                    int (*row)(sqlite3_stmt *s, void *arg),
                    void *arg,
                    const char *what)
{
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        n++;
        int stop = row(s, arg);
        if (stop) {
            sqlite3_reset(s);
            return stop;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? n : ledger_fail(l, rc, what);
}

bool ledger_txn_lost(struct sk_ledger *l)
{
    if (l->aborted) {
        return true;
    }
    if (l->depth == 0 || !l->db || !sqlite3_get_autocommit(l->db)) {
        return false;
    }
    /* SQLite rolled the transaction back after an error we did not see as one (out of
     * memory inside a statement that still returned its rows, say). Nothing may run now:
     * in autocommit mode each statement would commit on its own. */
    int rc = sqlite3_extended_errcode(l->db);
    l->aborted = true;
    l->abort_err = sqlite_err_db(l->db, rc) ? sqlite_err_db(l->db, rc) : SK_ELEDGER;
    ledger_failf(l, l->abort_err, "SQLite rolled the transaction back (%s)", sqlite3_errmsg(l->db));
    return true;
}

bool sk_ledger_txn_failed(const struct sk_ledger *l)
{
    return ledger_txn_lost((struct sk_ledger *)l);
}

int ledger_exec(struct sk_ledger *l, const char *sql, const char *what)
{
    if (ledger_txn_lost(l)) {
        return l->abort_err;
    }
    int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ledger_fail(l, rc, what);
}

sqlite3_stmt *ledger_stmt(struct sk_ledger *l, enum ledger_stmt id)
{
    if (ledger_txn_lost(l)) {
        l->err = l->abort_err;
        return NULL;
    }
    sqlite3_stmt *s = l->stmts[id];
    if (!s) {
        int rc = sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK) {
            ledger_fail(l, rc, "prepare");
            return NULL;
        }
        l->stmts[id] = s;
        return s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

int ledger_fault(struct sk_ledger *l, const char *point)
{
    if (!l->fault_point || strcmp(l->fault_point, point) != 0) {
        return 0;
    }
    if (l->fault_countdown-- > 0) {
        return 0;
    }
    l->fault_point = NULL;
    return ledger_failf(l, l->fault_err, "%s: injected failure", point);
}

void ledger_test_fault(struct sk_ledger *l, const char *point, int countdown, int err)
{
    l->fault_point = point;
    l->fault_countdown = countdown;
    l->fault_err = err;
}

sqlite3 *ledger_test_db(struct sk_ledger *l)
{
    return l->db;
}

/* What a scratch buffer keeps of its memory between uses: an event of the usual size; a
 * rare large one is freed after it. */
#define SCRATCH_KEEP 16384

struct sk_buf ledger_scratch(struct sk_ledger *l, enum ledger_scratch_id id, size_t max)
{
    struct ledger_scratch *sc = &l->scratch[id];
    struct sk_buf b = SK_BUF_INIT(max);
    if (sc->p) {
        b.p = sc->p;
        b.cap = sc->cap;
        b.p[0] = '\0';
        sc->p = NULL; /* the buffer's now, until it is given back */
        sc->cap = 0;
    }
    return b;
}

void ledger_scratch_done(struct sk_ledger *l, enum ledger_scratch_id id, struct sk_buf *b)
{
    struct ledger_scratch *sc = &l->scratch[id];
    if (b->p && b->cap <= SCRATCH_KEEP && !sc->p) {
        sc->p = b->p;
        sc->cap = b->cap;
    } else {
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
}

int64_t ledger_now_us(const struct sk_ledger *l)
{
    return sk_clock_wall_us(l->clock);
}

/* Counts the forks of this process (in the child): a pool filled before a fork is not used
 * after it. Asking getpid() per id instead was a system call per event (glibc no longer
 * caches the pid). */
static unsigned forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    forks++;
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* Random bytes for ids, from the kernel a few hundred at a time (one system call per event
 * was a visible share of a movement's time). The pool is per thread and refilled in a child
 * after a fork, so no two processes or threads ever hand out the same bytes. */
static bool pool_take(uint8_t *buf, size_t n)
{
    static _Thread_local uint8_t pool[256];
    static _Thread_local size_t left;
    static _Thread_local unsigned filled_at; /* forks + 1 when filled, 0 never */
    if (n > sizeof(pool)) {
        return false;
    }
    pthread_once(&forks_once, watch_forks);
    if (left < n || filled_at != forks + 1) {
        if (getrandom(pool, sizeof(pool), GRND_NONBLOCK) != (ssize_t)sizeof(pool)) {
            left = 0;
            return false;
        }
        left = sizeof(pool);
        filled_at = forks + 1;
    }
    memcpy(buf, pool + sizeof(pool) - left, n);
    memset(pool + sizeof(pool) - left, 0, n); /* handed out once */
    left -= n;
    return true;
}

/* Random bytes for ids: the kernel's pool, or (very early at boot, before it is seeded) a
 * splitmix64 stream seeded from the clocks and pid, which is unique enough for ids. */
static void random_bytes(uint8_t *buf, size_t n)
{
    if (pool_take(buf, n)) {
        return;
    }
    ssize_t got = getrandom(buf, n, GRND_NONBLOCK);
    if (got == (ssize_t)n) {
        return;
    }
    static uint64_t state;
    if (state == 0) {
        state = (uint64_t)sk_now_mono_us() ^ ((uint64_t)sk_now_wall_us() << 20) ^
                ((uint64_t)getpid() << 40);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        buf[i] = (uint8_t)(z ^ (z >> 31));
    }
}

void ledger_uuid7(int64_t wall_us, char out[SK_LEDGER_ID_LEN + 1])
{
    uint8_t rest[10];
    random_bytes(rest, sizeof(rest));
    sk_uuid7(wall_us, rest, out);
}

int ledger_meta_get(struct sk_ledger *l, const char *key, char *buf, size_t size)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_META_GET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        snprintf(buf, size, "%s", v ? v : "");
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading meta");
}

int ledger_meta_set(struct sk_ledger *l, const char *key, const char *value)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_META_SET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return ledger_step_done(l, s, "writing meta");
}

int64_t ledger_last_seq(struct sk_ledger *l)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_LAST_SEQ);
    if (!s) {
        return ledger_err(l);
    }
    int rc = sqlite3_step(s);
    int64_t seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the last seq");
    }
    return seq;
}

void ledger_cache_drop(struct sk_ledger *l)
{
    l->cache_ok = false;
    l->c_head_known = false;
    l->c_totals_n = 0;
    for (size_t i = 0; i < l->c_totals_cap; i++) {
        l->c_totals[i].sku[0] = '\0';
    }
    l->c_shelves_n = 0;
    for (size_t i = 0; i < l->c_shelves_cap; i++) {
        l->c_shelves[i].name[0] = '\0';
    }
    l->c_qty_n = 0;
    for (size_t i = 0; i < l->c_qty_cap; i++) {
        l->c_qty[i].shelf[0] = '\0';
    }
}

int64_t ledger_seq(struct sk_ledger *l)
{
    if (l->cache_ok && l->depth > 0) {
        return l->c_seq;
    }
    int64_t seq = ledger_last_seq(l);
    if (seq >= 0 && l->depth > 0) {
        l->c_seq = seq;
        l->cache_ok = true;
    }
    return seq;
}

void sk_ledger_set_progress(struct sk_ledger *l, sk_ledger_progress_cb cb, void *ctx)
{
    l->progress = cb;
    l->progress_ctx = ctx;
}

const char *sk_ledger_errmsg(const struct sk_ledger *l)
{
    return l ? l->errmsg : "no ledger";
}

/* ---- text building ---------------------------------------------------------------- */

/* Printable ASCII without quote or backslash: written into JSON as it is. */
static size_t plain_key_len(const char *key)
{
    size_t n = 0;
    for (; key[n]; n++) {
        unsigned char c = (unsigned char)key[n];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            return SIZE_MAX;
        }
    }
    return n;
}

void ledger_buf_key(struct sk_buf *b, const char *key)
{
    /* Keys are the ledger's own names: nothing to escape, three appends (a hot path). */
    size_t n = plain_key_len(key);
    if (n == SIZE_MAX) {
        sk_buf_put(b, ",", 1);
        sk_buf_json_string(b, key);
        sk_buf_put(b, ":", 1);
        return;
    }
    sk_buf_put(b, ",\"", 2);
    sk_buf_put(b, key, n);
    sk_buf_put(b, "\":", 2);
}

/* ---- transactions ------------------------------------------------------------------ */

int sk_ledger_depth(const struct sk_ledger *l)
{
    return l->depth;
}

/* SAVEPOINT, RELEASE or ROLLBACK TO (kind 0, 1, 2) of savepoint skN: prepared for the
 * usual depths (a movement inside the runtime's observation inside its batch is sk2..sk3),
 * parsed for deeper ones. */
static int savepoint(struct sk_ledger *l, int kind, int n, const char *what)
{
    if (n >= 1 && n <= LEDGER_SP_PREPARED) {
        sqlite3_stmt *s = ledger_stmt(l, ST_SAVEPOINT_1 + kind * LEDGER_SP_PREPARED + n - 1);
        return s ? ledger_step_done(l, s, what) : ledger_err(l);
    }
    static const char *const verb[] = {"SAVEPOINT", "RELEASE", "ROLLBACK TO"};
    char sql[48];
    snprintf(sql, sizeof(sql), "%s sk%d", verb[kind], n);
    return ledger_exec(l, sql, what);
}

/* At the start of a transaction: the cache stays only if no other connection committed since
 * it was filled (PRAGMA data_version changes with each of their commits, never ours). */
static int cache_check(struct sk_ledger *l)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_DATA_VERSION);
    if (!s) {
        return ledger_err(l);
    }
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
        return ledger_fail(l, rc, "reading data_version");
    }
    if (v != l->cache_data_version) {
        ledger_cache_drop(l);
        l->cache_data_version = v;
    }
    return 0;
}

int sk_ledger_begin(struct sk_ledger *l)
{
    if (l->depth > 0) {
        if (ledger_txn_lost(l)) {
            return l->abort_err;
        }
        int r = savepoint(l, 0, l->depth, "savepoint");
        if (r < 0) {
            return r;
        }
        return ++l->depth;
    }
    if (l->refusal_err && !l->accept_mode) {
        return ledger_failf(l, l->refusal_err, "%s", l->refusal);
    }
    int r = ledger_exec(l, "BEGIN IMMEDIATE", "begin");
    if (r < 0) {
        return r;
    }
    l->depth = 1;
    l->aborted = false;
    l->txn_last_event = 0;
    l->txn_moved = false;
    l->partial_depth = 0;
    r = cache_check(l);
    int64_t seq = r < 0 ? r : ledger_seq(l);
    if (seq < 0) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        l->depth = 0;
        ledger_cache_drop(l);
        return (int)seq;
    }
    l->txn_visible_seq = seq;
    return 1;
}

static void notify_commit(struct sk_ledger *l, int64_t last_seq)
{
    for (size_t i = 0; i < LEDGER_MAX_LISTENERS; i++) {
        if (l->listeners[i].cb) {
            l->listeners[i].cb(last_seq, l->listeners[i].ctx);
        }
    }
}

int sk_ledger_commit(struct sk_ledger *l)
{
    if (l->depth <= 0) {
        return ledger_failf(l, -EINVAL, "commit without a transaction");
    }
    if (ledger_txn_lost(l)) {
        /* SQLite already rolled everything back; unwind our bookkeeping. */
        int err = l->abort_err;
        if (--l->depth == 0) {
            l->aborted = false;
            l->partial_depth = 0;
        }
        ledger_cache_drop(l);
        return err;
    }
    if (l->partial_depth > 0 && l->depth <= l->partial_depth) {
        /* Part of a failed movement is in here: roll back, never commit it. */
        return ledger_failf(l, SK_ELEDGER,
                            "a movement that failed left part of itself in this transaction: "
                            "roll it back");
    }
    if (l->depth > 1) {
        int r = savepoint(l, 1, l->depth - 1, "release");
        if (r < 0) {
            return r;
        }
        l->depth--;
        return 0;
    }
    int r = ledger_fault(l, "commit");
    if (r == 0) {
        r = ledger_exec(l, "COMMIT", "commit");
    }
    if (r < 0) {
        if (!sqlite3_get_autocommit(l->db)) {
            sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        }
        l->depth = 0;
        l->aborted = false;
        ledger_cache_drop(l);
        return r;
    }
    l->depth = 0;
    l->full = false;
    l->commits++;
    if (l->anchor_on && (l->txn_last_event > 0 || l->txn_moved || l->anchor_stale)) {
        /* After the commit, never before: the anchor may lag the ledger, never lead it. A
         * failure here leaves it behind (the next commit tries again); the commit stands. */
        ledger_anchor_after_commit(l);
    }
    if (l->txn_last_event > 0) {
        notify_commit(l, l->txn_last_event);
    }
    l->txn_last_event = 0;
    l->txn_moved = false;
    return 0;
}

uint64_t sk_ledger_commits(const struct sk_ledger *l)
{
    return l->commits;
}

int sk_ledger_rollback(struct sk_ledger *l)
{
    if (l->depth <= 0) {
        return ledger_failf(l, -EINVAL, "rollback without a transaction");
    }
    /* What was cached may have come from the rows undone now. */
    ledger_cache_drop(l);
    if (l->partial_depth >= l->depth) {
        l->partial_depth = 0;
    }
    if (ledger_txn_lost(l)) {
        if (--l->depth == 0) {
            l->aborted = false;
        }
        return 0;
    }
    if (l->depth > 1) {
        int r = savepoint(l, 2, l->depth - 1, "rollback to savepoint");
        int r2 = savepoint(l, 1, l->depth - 1, "release");
        l->depth--;
        return r < 0 ? r : r2;
    }
    int r = 0;
    if (!sqlite3_get_autocommit(l->db)) {
        r = ledger_exec(l, "ROLLBACK", "rollback");
    }
    l->depth = 0;
    l->txn_last_event = 0;
    l->txn_moved = false;
    return r;
}

int sk_ledger_add_commit_listener(struct sk_ledger *l, sk_ledger_commit_cb cb, void *ctx)
{
    for (size_t i = 0; i < LEDGER_MAX_LISTENERS; i++) {
        if (!l->listeners[i].cb) {
            l->listeners[i].cb = cb;
            l->listeners[i].ctx = ctx;
            return 0;
        }
    }
    return -ENOSPC;
}

void sk_ledger_remove_commit_listener(struct sk_ledger *l, sk_ledger_commit_cb cb, void *ctx)
{
    for (size_t i = 0; i < LEDGER_MAX_LISTENERS; i++) {
        if (l->listeners[i].cb == cb && l->listeners[i].ctx == ctx) {
            l->listeners[i].cb = NULL;
            l->listeners[i].ctx = NULL;
        }
    }
}

/* ---- opening ----------------------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int64_t *ret)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *ret = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* SQLite's integrity reports put several findings in one row, a line each: messages here are
 * one line. */
void ledger_one_line(char *s, size_t size)
{
    char out[1024];
    size_t o = 0;
    for (const char *p = s; *p && o + 3 < sizeof(out); p++) {
        if (*p == '\n' || *p == '\r') {
            if (p[1] && p[1] != '\n' && o > 0) {
                out[o++] = ';';
                out[o++] = ' ';
            }
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    snprintf(s, size, "%s", out);
}

/* Runs quick_check; returns 0 when it says "ok", else copies its first line into why. */
static int quick_check(sqlite3 *db, char *why, size_t size)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, size, "%s", sqlite3_errmsg(db));
        return ledger_sqlite_err(rc) ? ledger_sqlite_err(rc) : SK_ELEDGER_CORRUPT;
    }
    int r = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        if (!t || strcmp(t, "ok") != 0) {
            snprintf(why, size, "%s", t ? t : "(no answer)");
            ledger_one_line(why, size);
            r = SK_ELEDGER_CORRUPT;
        }
    } else {
        snprintf(why, size, "%s", sqlite3_errmsg(db));
        r = ledger_sqlite_err(rc) ? ledger_sqlite_err(rc) : SK_ELEDGER_CORRUPT;
        if (r != -ENOMEM && r != -EBUSY) {
            r = SK_ELEDGER_CORRUPT;
        }
    }
    sqlite3_finalize(s);
    return r;
}

static int backup_to(sqlite3 *db, const char *dest_path)
{
    sqlite3 *dest;
    int rc = sqlite3_open_v2(dest_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dest, "main", db, "main");
        if (b) {
            sqlite3_backup_step(b, -1);
            sqlite3_backup_finish(b);
        }
        rc = sqlite3_errcode(dest);
    }
    sqlite3_close(dest);
    return rc;
}

static int set_pragmas(struct sk_ledger *l, int busy_ms)
{
    int wait_ms = busy_ms > 0 ? busy_ms : 5000;
    sqlite3_busy_timeout(l->db, wait_ms);
    /* Switching a new file to WAL needs it to itself: SQLite does not call the busy handler
     * there, so another process creating the same ledger right now is waited for here. */
    bool wal = false;
    char mode[32] = "";
    for (int waited = 0;; waited += 10) {
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v2(l->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
        if (rc != SQLITE_OK) {
            if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waited < wait_ms) {
                sqlite3_sleep(10);
                continue;
            }
            return ledger_fail(l, rc, "setting WAL mode");
        }
        rc = sqlite3_step(s);
        const char *m = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        snprintf(mode, sizeof(mode), "%s", m ? m : sqlite3_errmsg(l->db));
        wal = m && strcmp(m, "wal") == 0;
        sqlite3_finalize(s);
        if (wal || (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= wait_ms) {
            break;
        }
        sqlite3_sleep(10);
    }
    if (!wal) {
        return ledger_failf(l, SK_ELEDGER,
                            "cannot switch to WAL mode (journal mode \"%s\"): the file system "
                            "must support shared memory (no network file systems)",
                            mode);
    }
    /* synchronous=FULL: see the DESIGN note. journal_size_limit keeps the WAL file from
     * staying large after a burst; temp_store keeps sort space off the SD card. */
    return ledger_exec(l,
                       "PRAGMA synchronous = FULL;"
                       "PRAGMA foreign_keys = ON;"
                       "PRAGMA trusted_schema = OFF;"
                       "PRAGMA temp_store = MEMORY;"
                       "PRAGMA journal_size_limit = 67108864;",
                       "setting pragmas");
}

static int migrate(struct sk_ledger *l, int64_t from, const struct sk_ledger_opts *opts)
{
    for (int64_t v = from; v < SK_LEDGER_SCHEMA_VERSION; v++) {
        int r = ledger_exec(l, "BEGIN IMMEDIATE", "migration");
        if (r < 0) {
            return r;
        }
        l->depth = 1;
        /* Another process opening the same new file (the daemon's first start and a `ledger`
         * command) may have taken this step while we waited for the write lock. */
        int64_t now_v = 0;
        if (pragma_int(l->db, "PRAGMA user_version", &now_v) == SQLITE_OK && now_v > v) {
            r = ledger_exec(l, "COMMIT", "migration");
            l->depth = 0;
            if (r < 0) {
                return r;
            }
            v = now_v - 1;
            continue;
        }
        r = ledger_exec(l, sk_ledger_migrations[v], "migration");
        if (r == 0 && v == 0) {
            char sql[80];
            snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", SK_LEDGER_APPLICATION_ID);
            char created[32];
            int64_t now = ledger_now_us(l);
            snprintf(created, sizeof(created), "%" PRId64, now);
            ledger_uuid7(now, l->ledger_id);
            r = ledger_exec(l, sql, "migration");
            if (r == 0) {
                r = ledger_meta_set(l, "ledger_id", l->ledger_id);
            }
            if (r == 0) {
                r = ledger_meta_set(l, "store_id", opts->store_id ? opts->store_id : "");
            }
            if (r == 0) {
                r = ledger_meta_set(l, "device_id", opts->device_id ? opts->device_id : "");
            }
            if (r == 0) {
                r = ledger_meta_set(l, "created_us", created);
            }
        }
        if (r == 0) {
            char sql[64];
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64, v + 1);
            r = ledger_exec(l, sql, "migration");
        }
        if (r == 0) {
            r = ledger_exec(l, "COMMIT", "migration");
        }
        l->depth = 0;
        if (r < 0) {
            if (!sqlite3_get_autocommit(l->db)) {
                sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
            }
            char why[SK_LEDGER_ERRMSG_MAX];
            snprintf(why, sizeof(why), "%s", l->errmsg);
            ledger_failf(l, r, "migration to version %" PRId64 " failed: %s", v + 1, why);
            return r;
        }
        /* Statements prepared against the old schema are re-prepared by SQLite. */
    }
    return 0;
}

static int ledger_unused(struct sk_ledger *l);
static bool daemon_holds(const struct sk_ledger *l, const struct sk_ledger_opts *opts);
static int
adopt_identity(struct sk_ledger *l, const struct sk_ledger_opts *opts, char *msg, size_t msg_size);

static int load_meta(struct sk_ledger *l)
{
    char buf[64];
    int r = ledger_meta_get(l, "ledger_id", l->ledger_id, sizeof(l->ledger_id));
    if (r == 0) {
        return ledger_failf(l, SK_ELEDGER_SCHEMA, "its identity (meta ledger_id) is missing");
    }
    if (r < 0 || (r = ledger_meta_get(l, "store_id", l->store_id, sizeof(l->store_id))) < 0 ||
        (r = ledger_meta_get(l, "device_id", l->device_id, sizeof(l->device_id))) < 0) {
        return r;
    }
    if ((r = ledger_meta_get(l, "created_us", buf, sizeof(buf))) < 0) {
        return r;
    }
    l->created_us = r ? strtoll(buf, NULL, 10) : 0;
    if ((r = ledger_meta_get(l, "outbox_overflow", buf, sizeof(buf))) < 0) {
        return r;
    }
    l->overflow = r && strcmp(buf, "1") == 0;
    return 0;
}

/*
 * SQLite keeps memory statistics under a global mutex taken on every allocation it makes
 * (about 40 for each movement): nothing reads them (no sqlite3_memory_used here), so they
 * are off. The setting must come before SQLite initialises; every SQLite connection of the
 * process is opened by this module, after this has run once.
 */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
}

static int
open_checked(struct sk_ledger *l, const struct sk_ledger_opts *opts, char *msg, size_t msg_size)
{
    const char *path = opts->path;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (!exists && !(opts->flags & SK_LEDGER_CREATE)) {
        snprintf(msg, msg_size,
                 "%s: no ledger here (`storekeeper run` or a `ledger import` creates it)", path);
        return -ENOENT;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        snprintf(msg, msg_size, "%s: not a regular file", path);
        return SK_ELEDGER_SCHEMA;
    }
    if (!exists) {
        /* Create the directory (one level) the way a systemd StateDirectory would. */
        char dir[sizeof(l->path)];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
                int e = errno;
                snprintf(msg, msg_size, "%s: cannot create directory %s: %s", path, dir,
                         strerror(e));
                return -e;
            }
        }
    }
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (opts->flags & SK_LEDGER_CREATE) {
        oflags |= SQLITE_OPEN_CREATE;
    }
    pthread_once(&sqlite_once, sqlite_setup);
    int rc = sqlite3_open_v2(path, &l->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        /* SQLite says only "unable to open database file": name the directory that cannot
         * take a new file (a store file without ledger.path under the service puts the
         * ledger beside it, in /etc/storekeeper, which the unit's sandbox keeps read-only). */
        char dir[sizeof(l->path)];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
        }
        const char *d = slash ? (dir[0] ? dir : "/") : ".";
        if (!exists && (opts->flags & SK_LEDGER_CREATE) && access(d, W_OK) < 0) {
            int e = errno;
            snprintf(msg, msg_size,
                     "%s: cannot create: directory %s: %s (set ledger.path to a file in a "
                     "directory this user may write; under the service: /var/lib/storekeeper)",
                     path, d, strerror(e));
            return -e;
        }
        snprintf(msg, msg_size, "%s: cannot open: %s", path,
                 l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
        return ledger_sqlite_err(rc) ? ledger_sqlite_err(rc) : SK_ELEDGER;
    }
    sqlite3_extended_result_codes(l->db, 1);

    if (opts->flags & SK_LEDGER_OWNER) {
        l->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (l->lock_fd < 0 || flock(l->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            snprintf(msg, msg_size, "%s: %s", path,
                     e == EWOULDBLOCK ? "another storekeeper daemon is using this ledger"
                                      : strerror(e));
            return e == EWOULDBLOCK ? -EBUSY : -e;
        }
    }
    sqlite3_busy_timeout(l->db, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);

    int64_t app_id = 0, version = 0, objects = 0;
    /* One snapshot of the three: another process may be creating this file right now, and
     * its tables without its application id would look like another program's database. */
    rc = sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = pragma_int(l->db, "PRAGMA application_id", &app_id);
    }
    if (rc == SQLITE_OK) {
        rc = pragma_int(l->db, "PRAGMA user_version", &version);
    }
    if (rc == SQLITE_OK) {
        rc = pragma_int(l->db, "SELECT count(*) FROM sqlite_master", &objects);
    }
    if (!sqlite3_get_autocommit(l->db)) {
        sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    }
    if ((rc & 0xff) == SQLITE_NOTADB) {
        snprintf(msg, msg_size,
                 "%s: not an SQLite database (another kind of file, or its header is "
                 "damaged); refusing to use or overwrite it",
                 path);
        return SK_ELEDGER_SCHEMA;
    }
    if (rc != SQLITE_OK) {
        snprintf(msg, msg_size, "%s: cannot read: %s", path, sqlite3_errmsg(l->db));
        int e = ledger_sqlite_err(rc);
        return e ? e : SK_ELEDGER;
    }
    bool fresh = app_id == 0 && version == 0 && objects == 0;
    if (fresh && !(opts->flags & SK_LEDGER_CREATE)) {
        snprintf(msg, msg_size, "%s: empty file, not a ledger", path);
        return SK_ELEDGER_SCHEMA;
    }
    if (!fresh && app_id != SK_LEDGER_APPLICATION_ID) {
        snprintf(msg, msg_size,
                 "%s: an SQLite database of another application (application_id 0x%08" PRIx64
                 ", %" PRId64 " schema objects), not a storekeeper ledger; refusing to use "
                 "or overwrite it",
                 path, (uint64_t)app_id & 0xffffffffu, objects);
        return SK_ELEDGER_SCHEMA;
    }
    if (version < 0 || (version == 0 && !fresh)) {
        /* user_version is read before anything else uses it: it indexes the migrations. A
         * negative one (a flipped bit in the header), or none on a file with tables, is no
         * version any storekeeper wrote. */
        snprintf(msg, msg_size,
                 "%s: ledger schema version %" PRId64 " is not one storekeeper writes (1..%d): "
                 "the file's header is damaged; refusing to use or migrate it. Keep the file "
                 "for analysis and see docs/ledger.md, \"Recovery\"",
                 path, version, SK_LEDGER_SCHEMA_VERSION);
        return SK_ELEDGER_CORRUPT;
    }
    if (version > SK_LEDGER_SCHEMA_VERSION) {
        snprintf(msg, msg_size,
                 "%s: ledger schema version %" PRId64 " is newer than this storekeeper's (%d); "
                 "run a newer storekeeper (ledgers are never downgraded)",
                 path, version, SK_LEDGER_SCHEMA_VERSION);
        return SK_ELEDGER_SCHEMA;
    }
    if (!fresh && !(opts->flags & SK_LEDGER_NO_CHECK)) {
        char why[200];
        int r = quick_check(l->db, why, sizeof(why));
        if (r < 0) {
            snprintf(msg, msg_size,
                     "%s: ledger fails its integrity check (%s); refusing to use it. Keep the "
                     "file for analysis and see docs/ledger.md, \"Recovery\"",
                     path, why);
            return r;
        }
    }
    if (!fresh && version < SK_LEDGER_SCHEMA_VERSION && !(opts->flags & SK_LEDGER_MIGRATE)) {
        snprintf(msg, msg_size,
                 "%s: ledger schema version %" PRId64 " is older than this storekeeper's (%d); "
                 "`storekeeper ledger migrate` (or starting the daemon) upgrades it",
                 path, version, SK_LEDGER_SCHEMA_VERSION);
        return SK_ELEDGER_SCHEMA;
    }

    int r = set_pragmas(l, opts->busy_timeout_ms);
    if (r < 0) {
        snprintf(msg, msg_size, "%s: %s", path, l->errmsg);
        return r;
    }
    if (version < SK_LEDGER_SCHEMA_VERSION) {
        if (!fresh) {
            char bak[sizeof(l->path) + 32];
            snprintf(bak, sizeof(bak), "%s.v%" PRId64 ".bak", path, version);
            rc = backup_to(l->db, bak);
            if (rc != SQLITE_OK) {
                snprintf(msg, msg_size,
                         "%s: cannot write the backup %s before migrating (%s); not migrated", path,
                         bak, sqlite3_errstr(rc));
                return ledger_sqlite_err(rc) ? ledger_sqlite_err(rc) : SK_ELEDGER;
            }
        }
        r = migrate(l, version, opts);
        l->migrated_from = fresh ? 0 : (int)version;
        if (r < 0) {
            snprintf(msg, msg_size, "%s: %s", path, l->errmsg);
            return r;
        }
    }
    r = load_meta(l);
    if (r < 0) {
        snprintf(msg, msg_size, "%s: %s", path, l->errmsg);
        return r;
    }
    bool store_differs =
            opts->store_id && l->store_id[0] && strcmp(opts->store_id, l->store_id) != 0;
    bool device_differs =
            opts->device_id && l->device_id[0] && strcmp(opts->device_id, l->device_id) != 0;
    if (store_differs || device_differs) {
        /* A writer may give an unused ledger its identity: the package's first start with
         * the idle example store creates one before the operator writes the real store_id
         * (docs/operator.md, step 5), and step 6 imports into it before the start. With
         * nothing recorded, nothing can be mixed; a running daemon keeps its own. */
        int unused = (opts->flags & (SK_LEDGER_OWNER | SK_LEDGER_CREATE)) && !daemon_holds(l, opts)
                             ? ledger_unused(l)
                             : 0;
        if (unused == 1) {
            return adopt_identity(l, opts, msg, msg_size);
        }
        snprintf(msg, msg_size,
                 "%s: this ledger belongs to store/device \"%s/%s\", the configuration says "
                 "\"%s/%s\", and "
                 "it holds records; refusing to mix them. Fix store_id/device_id, or point "
                 "ledger.path at a new file (docs/ledger.md)",
                 path, l->store_id, l->device_id, opts->store_id ? opts->store_id : l->store_id,
                 opts->device_id ? opts->device_id : l->device_id);
        return SK_ELEDGER_IDENTITY;
    }
    return 0;
}

/* 1 when the ledger has never recorded anything of a store: no movement, no event ever
 * written to the outbox (seq 0), no catalog, no session, no census; 0 if it has; < 0 on
 * error. */
static int ledger_unused(struct sk_ledger *l)
{
    static const char *const tables[] = {"movements", "outbox",   "products", "tags",
                                         "planogram", "sessions", "census",   "discrepancies"};
    if (ledger_last_seq(l) != 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT EXISTS (SELECT 1 FROM %s)", tables[i]);
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL);
        int any = 1;
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
            any = sqlite3_column_int(st, 0);
        } else {
            rc = rc == SQLITE_OK ? sqlite3_errcode(l->db) : rc;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK) {
            return ledger_fail(l, rc, "checking whether the ledger is unused");
        }
        if (any) {
            return 0;
        }
    }
    return 1;
}

/* A writer other than the daemon (`ledger import` with -c) adopts only while no daemon holds
 * the file: one that runs keeps the identity it opened with. */
static bool daemon_holds(const struct sk_ledger *l, const struct sk_ledger_opts *opts)
{
    if (opts->flags & SK_LEDGER_OWNER) {
        return false; /* we are the daemon: we hold it */
    }
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return true;
    }
    bool held = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd); /* releases the probe's lock; SQLite's POSIX locks are another kind */
    return held;
}

static int
adopt_identity(struct sk_ledger *l, const struct sk_ledger_opts *opts, char *msg, size_t msg_size)
{
    char old_store[sizeof(l->store_id)], old_device[sizeof(l->device_id)];
    snprintf(old_store, sizeof(old_store), "%s", l->store_id);
    snprintf(old_device, sizeof(old_device), "%s", l->device_id);
    int r = ledger_exec(l, "BEGIN IMMEDIATE", "adopting the identity");
    if (r == 0 && opts->store_id) {
        r = ledger_meta_set(l, "store_id", opts->store_id);
    }
    if (r == 0 && opts->device_id) {
        r = ledger_meta_set(l, "device_id", opts->device_id);
    }
    if (r == 0) {
        r = ledger_exec(l, "COMMIT", "adopting the identity");
    }
    if (r < 0) {
        if (!sqlite3_get_autocommit(l->db)) {
            sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        }
        snprintf(msg, msg_size, "%s: %s", l->path, l->errmsg);
        return r;
    }
    snprintf(l->adopted_from, sizeof(l->adopted_from), "%s/%s", old_store, old_device);
    return load_meta(l) < 0 ? SK_ELEDGER : 0;
}

static void close_db(struct sk_ledger *l)
{
    free(l->c_totals);
    l->c_totals = NULL;
    l->c_totals_cap = l->c_totals_n = 0;
    free(l->c_shelves);
    l->c_shelves = NULL;
    l->c_shelves_cap = l->c_shelves_n = 0;
    free(l->c_qty);
    l->c_qty = NULL;
    l->c_qty_cap = l->c_qty_n = 0;
    for (size_t i = 0; i < SCRATCH_COUNT; i++) {
        free(l->scratch[i].p);
        l->scratch[i].p = NULL;
        l->scratch[i].cap = 0;
    }
    for (size_t i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(l->stmts[i]);
        l->stmts[i] = NULL;
    }
    if (l->db) {
        if (!sqlite3_get_autocommit(l->db)) {
            sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        }
        sqlite3_close(l->db);
        l->db = NULL;
    }
    if (l->anchor_fd >= 0) {
        sk_ledger_anchor_flush(l); /* after ROLLBACK: only what was committed is named */
        close(l->anchor_fd);
        l->anchor_fd = -1;
    }
    /* After sqlite3_close: closing another fd of the file drops the process's POSIX locks. */
    if (l->lock_fd >= 0) {
        close(l->lock_fd);
        l->lock_fd = -1;
    }
}

int sk_ledger_open(const struct sk_ledger_opts *opts,
                   char *msg,
                   size_t msg_size,
                   struct sk_ledger **ret_ledger)
{
    char dummy[8];
    if (!msg || msg_size == 0) {
        msg = dummy;
        msg_size = sizeof(dummy);
    }
    msg[0] = '\0';
    if (!opts || !opts->path || !opts->path[0]) {
        snprintf(msg, msg_size, "no ledger path");
        return -EINVAL;
    }
    struct sk_ledger *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(msg, msg_size, "%s: out of memory", opts->path);
        return -ENOMEM;
    }
    if (strlen(opts->path) >= sizeof(l->path)) {
        free(l);
        snprintf(msg, msg_size, "ledger path too long (%zu characters, at most %zu)",
                 strlen(opts->path), sizeof(l->path) - 1);
        return -ENAMETOOLONG;
    }
    snprintf(l->path, sizeof(l->path), "%s", opts->path);
    l->lock_fd = -1;
    l->anchor_fd = -1;
    l->accept_mode = opts->flags & SK_LEDGER_ACCEPT_ROLLBACK;
    l->clock = opts->clock ? opts->clock : sk_clock_system();
    int r = 0;
    if (opts->flags & SK_LEDGER_ANCHOR) {
        /* Before a missing or empty file is made a new ledger: was there one? */
        struct stat st;
        bool exists = stat(opts->path, &st) == 0;
        r = ledger_anchor_precheck(opts->path, opts, exists, exists ? (int64_t)st.st_size : 0, msg,
                                   msg_size);
    }
    if (r == 0) {
        r = open_checked(l, opts, msg, msg_size);
    }
    if (r == 0 && (opts->flags & SK_LEDGER_ANCHOR)) {
        r = ledger_anchor_check(l, opts, msg, msg_size);
    }
    if (r < 0) {
        ledger_one_line(msg, msg_size); /* one line, whatever SQLite said */
        close_db(l);
        free(l);
        return r;
    }
    *ret_ledger = l;
    return 0;
}

void sk_ledger_close(struct sk_ledger *l)
{
    if (!l) {
        return;
    }
    close_db(l);
    free(l);
}

int sk_ledger_get_info(struct sk_ledger *l, struct sk_ledger_info *ret_info)
{
    struct sk_ledger_info i;
    memset(&i, 0, sizeof(i));
    snprintf(i.ledger_id, sizeof(i.ledger_id), "%s", l->ledger_id);
    snprintf(i.store_id, sizeof(i.store_id), "%s", l->store_id);
    snprintf(i.device_id, sizeof(i.device_id), "%s", l->device_id);
    snprintf(i.path, sizeof(i.path), "%s", l->path);
    i.created_us = l->created_us;
    i.migrated_from = l->migrated_from;
    i.anchor_created = l->anchor_created;
    snprintf(i.adopted_from, sizeof(i.adopted_from), "%s", l->adopted_from);
    int64_t v = 0;
    int rc = pragma_int(l->db, "PRAGMA user_version", &v);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the schema version");
    }
    i.schema_version = (int)v;
    *ret_info = i;
    return 0;
}

int sk_ledger_set_max_size(struct sk_ledger *l, int64_t max_bytes)
{
    int64_t page = 4096;
    int rc = pragma_int(l->db, "PRAGMA page_size", &page);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the page size");
    }
    /* SQLite's own bound is 4294967294 pages; 0 means "as large as SQLite allows". */
    int64_t pages = max_bytes > 0 ? max_bytes / (page > 0 ? page : 4096) : 4294967294LL;
    if (pages < 1) {
        pages = 1;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
    int64_t got = 0;
    rc = pragma_int(l->db, sql, &got);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "setting max_page_count");
    }
    return 0;
}

bool sk_ledger_is_full(const struct sk_ledger *l)
{
    return l->full;
}
