/* SPDX-License-Identifier: MIT */
/* `ledger verify`: the whole book checked against itself, and its end against the anchor. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * The hash chain alone does not make the book: stock is a cache of the movements, every
 * movement with an event has its payload in the outbox (which the MQTT link publishes as it
 * finds it), and the newest rows can be deleted without breaking any link. So verify, in one
 * read transaction:
 *   1. the chain: ids in order (a `rollback` movement may skip the ids of movements that were
 *      lost), each prev_hash the hash before, each hash recomputed (version 1 rows, written
 *      before schema 4, do not cover recorded_us and event_seq; version 2 rows do, and no
 *      version 1 row may follow a version 2 one);
 *   2. each movement's outbox event, while the outbox keeps it: its topic, seq, movement id,
 *      hash and every field it repeats from the movement;
 *   3. stock: every (shelf, sku) total recomputed from the movements;
 *   4. no movement event in the outbox that no movement claims (an event_seq changed);
 *   5. every outbox row's digest (rows before schema 4 have none; none may lack one after the
 *      first that has one), and the seq and id inside each payload;
 *   6. with the anchor: the end of the book where the anchor says it was.
 * The first problem is reported; the counts say how much was checked.
 */

#define CHAIN_COLUMNS                                                                          \
    "id, time_us, recorded_us, type, epc, sku, shelf, to_shelf, session, quantity, evidence, " \
    "prev_hash, hash, event_seq, hash_version"

static const char *opt_text(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NULL
                                                    : (const char *)sqlite3_column_text(s, i);
}

/* A row of the movements in CHAIN_COLUMNS order, borrowed from the statement. */
static void decode(sqlite3_stmt *s, struct ledger_move_fields *f)
{
    memset(f, 0, sizeof(*f));
    f->id = sqlite3_column_int64(s, 0);
    f->time_us = sqlite3_column_int64(s, 1);
    f->recorded_us = sqlite3_column_int64(s, 2);
    f->type = opt_text(s, 3);
    f->epc = sqlite3_column_type(s, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(s, 4);
    f->epc_len = (size_t)sqlite3_column_bytes(s, 4);
    f->sku = opt_text(s, 5);
    f->shelf = opt_text(s, 6);
    f->to_shelf = opt_text(s, 7);
    f->session = opt_text(s, 8);
    f->quantity = sqlite3_column_int64(s, 9);
    f->evidence = opt_text(s, 10);
    f->event_seq = sqlite3_column_int64(s, 13);
    f->version = sqlite3_column_int(s, 14);
}

static __attribute__((format(printf, 4, 5))) void
problem(struct sk_verify_result *v, const char *check, int64_t id, const char *fmt, ...)
{
    if (v->check[0]) {
        return; /* the first one is reported */
    }
    snprintf(v->check, sizeof(v->check), "%s", check);
    v->first_bad_id = id;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
}

int ledger_movement_hash_hex(struct sk_ledger *l, int64_t id, char out[SK_LEDGER_HASH_HEX])
{
    out[0] = '\0';
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(l->db, "SELECT hash FROM movements WHERE id = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading a movement");
    }
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32) {
        ledger_hex(sqlite3_column_blob(s, 0), 32, out);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading a movement");
}

int ledger_chain_head_check(struct sk_ledger *l, char *why, size_t size)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(l->db,
                                "SELECT " CHAIN_COLUMNS " FROM movements ORDER BY id DESC LIMIT 2",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    struct ledger_move_fields f;
    uint8_t head[32], prev[32], want[32] = {0};
    int head_len = 0, prev_len = 0;
    int64_t prev_id = 0;
    int r = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        decode(s, &f);
        head_len = sqlite3_column_bytes(s, 12);
        prev_len = sqlite3_column_bytes(s, 11);
        if (head_len == 32 && prev_len == 32) {
            memcpy(head, sqlite3_column_blob(s, 12), 32);
            memcpy(prev, sqlite3_column_blob(s, 11), 32);
            r = ledger_move_hash(prev, &f, want);
        }
        if (r == 0 && (head_len != 32 || prev_len != 32 || memcmp(want, head, 32) != 0)) {
            snprintf(why, size, "its last movement (%" PRId64 ") does not match its hash", f.id);
            r = SK_ELEDGER_CHAIN;
        }
        int64_t id = f.id;
        rc = r == 0 ? sqlite3_step(s) : SQLITE_DONE;
        uint8_t before[32];
        if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 12) == 32) {
            prev_id = sqlite3_column_int64(s, 0);
            memcpy(before, sqlite3_column_blob(s, 12), 32);
        } else if (rc == SQLITE_DONE && r == 0) {
            ledger_genesis(l->ledger_id, before);
        }
        if (r == 0 && (rc == SQLITE_ROW || rc == SQLITE_DONE) && memcmp(before, prev, 32) != 0) {
            snprintf(why, size,
                     "its last movement (%" PRId64 ") does not link to %s%" PRId64 " before it", id,
                     prev_id ? "movement " : "the start of the chain", prev_id);
            r = SK_ELEDGER_CHAIN;
        }
    }
    sqlite3_finalize(s);
    if (r == -ENOMEM) {
        return ledger_failf(l, r, "checking the chain head: out of memory");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    return r;
}

/* ---- 2. a movement's event --------------------------------------------------------------- */

static bool same_text(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!want) {
        return v == NULL;
    }
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static bool same_int(const cJSON *o, const char *key, int64_t want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble == (double)want;
}

/* The first field in which the payload of a movement's event disagrees with the movement,
 * or NULL. */
static const char *event_differs(const struct ledger_move_fields *f,
                                 const char *hash_hex,
                                 const char *topic,
                                 const cJSON *p)
{
    bool rollback = f->type && strcmp(f->type, "rollback") == 0;
    if (strcmp(topic, rollback ? "event/rollback" : "event/movement") != 0) {
        return "topic";
    }
    char when[40];
    sk_format_time_utc(f->time_us, when, sizeof(when));
    char epc[SK_EPC_HEX_MAX] = "";
    if (f->epc) {
        sk_epc_to_hex(f->epc, f->epc_len, epc, sizeof(epc));
    }

    /* In the order they are compared: a rollback's event carries only the first three. */
    const struct {
        const char *key;
        bool is_int;
        int64_t num;
        const char *text; /* NULL: the payload must not have the key */
    } fields[] = {
            {"seq", true, f->event_seq, NULL},     {"movement_id", true, f->id, NULL},
            {"hash", false, 0, hash_hex},          {"time", false, 0, when},
            {"type", false, 0, f->type},           {"sku", false, 0, f->sku},
            {"quantity", true, f->quantity, NULL}, {"epc", false, 0, f->epc ? epc : NULL},
            {"shelf", false, 0, f->shelf},         {"to_shelf", false, 0, f->to_shelf},
            {"session_id", false, 0, f->session},
    };

    size_t n = rollback ? 3 : sizeof(fields) / sizeof(fields[0]);
    for (size_t i = 0; i < n; i++) {
        if (fields[i].is_int ? !same_int(p, fields[i].key, fields[i].num)
                             : !same_text(p, fields[i].key, fields[i].text)) {
            return fields[i].key;
        }
    }
    if (rollback) {
        return NULL;
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(p, "evidence");
    cJSON *want = f->evidence ? cJSON_Parse(f->evidence) : NULL;
    bool ok = (!want && !ev) || (want && ev && cJSON_Compare(want, ev, true));
    cJSON_Delete(want);
    return ok ? NULL : "evidence";
}

static int check_event(struct sk_ledger *l,
                       sqlite3_stmt *get,
                       const struct ledger_move_fields *f,
                       const char *hash_hex,
                       struct sk_verify_result *v)
{
    sqlite3_reset(get);
    sqlite3_bind_int64(get, 1, f->event_seq);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_DONE) {
        v->events_pruned++; /* delivered and pruned (retention) */
        return 0;
    }
    if (rc != SQLITE_ROW) {
        return ledger_fail(l, rc, "reading a movement's event");
    }
    const char *topic = (const char *)sqlite3_column_text(get, 0);
    const char *payload = (const char *)sqlite3_column_text(get, 1);
    cJSON *p = payload ? cJSON_Parse(payload) : NULL;
    const char *field = !topic || !cJSON_IsObject(p)
                                ? "payload"
                                : event_differs(f, hash_hex, topic ? topic : "", p);
    cJSON_Delete(p);
    v->events++;
    if (field) {
        problem(v, "event", f->id,
                "its event (seq %" PRId64 ") says something else (%s): the movement or the "
                "outbox payload was changed",
                f->event_seq, field);
    }
    return 0;
}

/* ---- 1 and 2: the chain and the movements' events ------------------------------------------- */

static int walk_chain(struct sk_ledger *l, struct sk_verify_result *v)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_MOVE_CHAIN);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_stmt *get = NULL;
    int rc = sqlite3_prepare_v2(l->db, "SELECT topic, payload FROM outbox WHERE seq = ?1", -1, &get,
                                NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the outbox");
    }
    sqlite3_bind_int64(s, 1, 0);
    sqlite3_bind_int64(s, 2, INT64_MAX);
    uint8_t prev[32];
    ledger_genesis(l->ledger_id, prev);
    int64_t last_id = 0;
    bool v2 = false, broken = false;
    int r = 0;
    int64_t total = 0;
    if (l->progress) {
        sqlite3_stmt *cnt = NULL;
        if (sqlite3_prepare_v2(l->db, "SELECT max(id) FROM movements", -1, &cnt, NULL) ==
                    SQLITE_OK &&
            sqlite3_step(cnt) == SQLITE_ROW) {
            total = sqlite3_column_int64(cnt, 0);
        }
        sqlite3_finalize(cnt);
    }
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct ledger_move_fields f;
        decode(s, &f);
        v->movements++;
        ledger_progress(l, "verify", (int64_t)v->movements, total);
        const void *ph = sqlite3_column_blob(s, 11);
        const void *h = sqlite3_column_blob(s, 12);
        bool rollback = f.type && strcmp(f.type, "rollback") == 0;
        uint8_t want[32];
        if (f.version < 2) {
            v->legacy_movements++;
        }
        if (f.id != last_id + 1 && !(rollback && f.id > last_id)) {
            problem(v, "chain", f.id, "it follows movement %" PRId64 ": rows are missing", last_id);
        } else if (f.version < 1 || f.version > 2 || (v2 && f.version < 2)) {
            problem(v, "chain", f.id, "hash version %d where version 2 is due", f.version);
        } else if (sqlite3_column_bytes(s, 11) != 32 || memcmp(ph, prev, 32) != 0) {
            problem(v, "chain", f.id, "its prev_hash is not the hash of movement %" PRId64,
                    last_id);
        } else if ((r = ledger_move_hash(prev, &f, want)) < 0) {
            break;
        } else if (sqlite3_column_bytes(s, 12) != 32 || memcmp(h, want, 32) != 0) {
            problem(v, "chain", f.id, "its content does not match its hash (the row was changed%s)",
                    f.version >= 2 ? "; event_seq and recorded_us are covered too" : "");
        }
        if (!strcmp(v->check, "chain")) {
            broken = true;
            break;
        }
        v2 = v2 || f.version >= 2;
        char hash_hex[SK_LEDGER_HASH_HEX];
        ledger_hex(h, 32, hash_hex);
        if (f.event_seq > 0) {
            r = check_event(l, get, &f, hash_hex, v);
        }
        memcpy(prev, h, 32);
        last_id = f.id;
    }
    sqlite3_reset(s);
    sqlite3_finalize(get);
    if (r < 0) {
        return r == -ENOMEM ? ledger_failf(l, r, "verifying: out of memory") : r;
    }
    if (!broken && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading movements");
    }
    if (last_id > 0 && !broken) {
        ledger_hex(prev, 32, v->head);
    }
    return 0;
}

/* ---- 3 and 4: stock and the events no movement claims ------------------------------------ */

static int check_stock(struct sk_ledger *l, struct sk_verify_result *v)
{
    static const char *const sql =
            "WITH eff (shelf, sku, q) AS ("
            "  SELECT shelf, sku, CASE WHEN type IN ('pickup', 'shrink', 'misplaced') "
            "    THEN -quantity ELSE quantity END FROM movements "
            "    WHERE shelf IS NOT NULL AND type NOT IN ('sale', 'rollback') "
            "  UNION ALL SELECT to_shelf, sku, quantity FROM movements "
            "    WHERE type = 'misplaced' AND to_shelf IS NOT NULL), "
            "want (shelf, sku, q) AS (SELECT shelf, sku, sum(q) FROM eff GROUP BY shelf, sku) "
            "SELECT (SELECT count(*) FROM want), w.shelf, w.sku, w.q, coalesce(s.quantity, 0) "
            "  FROM want w LEFT JOIN stock s ON s.shelf = w.shelf AND s.sku = w.sku "
            "  WHERE w.q != coalesce(s.quantity, 0) "
            "UNION ALL SELECT (SELECT count(*) FROM want), s.shelf, s.sku, 0, s.quantity "
            "  FROM stock s WHERE s.quantity != 0 AND NOT EXISTS (SELECT 1 FROM want w "
            "  WHERE w.shelf = s.shelf AND w.sku = s.sku) "
            "LIMIT 1";
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(l->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "recomputing stock");
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        problem(v, "stock", 0,
                "stock of %s on shelf %s is %" PRId64 ", but its movements add up to %" PRId64
                ": the stock table was changed",
                sqlite3_column_text(s, 2), sqlite3_column_text(s, 1),
                (int64_t)sqlite3_column_int64(s, 4), (int64_t)sqlite3_column_int64(s, 3));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "recomputing stock");
    }
    rc = sqlite3_prepare_v2(l->db,
                            "SELECT count(*) FROM (SELECT DISTINCT shelf, sku FROM movements WHERE "
                            "shelf IS NOT NULL UNION SELECT to_shelf, sku FROM movements WHERE "
                            "to_shelf IS NOT NULL)",
                            -1, &s, NULL);
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        v->stock_rows = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    /* A movement event that no movement claims: an event_seq changed, or a movement deleted. */
    rc = sqlite3_prepare_v2(l->db,
                            "SELECT o.seq FROM outbox o WHERE o.topic IN ('event/movement', "
                            "'event/rollback') AND NOT EXISTS (SELECT 1 FROM movements m "
                            "WHERE m.event_seq = o.seq) ORDER BY o.seq LIMIT 1",
                            -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the outbox");
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        problem(v, "event", 0,
                "outbox event seq %" PRId64 " records a movement that no movement has as its "
                "event (a movement was deleted, or its event_seq changed)",
                (int64_t)sqlite3_column_int64(s, 0));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading the outbox");
}

/* ---- 5. the outbox rows ------------------------------------------------------------------ */

static int check_outbox(struct sk_ledger *l, struct sk_verify_result *v)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
            l->db, "SELECT seq, id, topic, payload, digest FROM outbox ORDER BY seq", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "reading the outbox");
    }
    bool digests = false;
    rc = SQLITE_DONE;
    while (!v->check[0] && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        const char *id = (const char *)sqlite3_column_text(s, 1);
        const char *topic = (const char *)sqlite3_column_text(s, 2);
        const char *payload = (const char *)sqlite3_column_text(s, 3);
        size_t len = (size_t)sqlite3_column_bytes(s, 3);
        if (!id || !topic || !payload) {
            sqlite3_finalize(s);
            return ledger_failf(l, -ENOMEM, "reading the outbox: out of memory");
        }
        if (sqlite3_column_type(s, 4) == SQLITE_NULL) {
            if (digests) {
                problem(v, "outbox", 0,
                        "outbox event seq %" PRId64 " has no digest, though the events before it "
                        "have one: its digest was removed",
                        seq);
            }
            v->legacy_events++;
            continue;
        }
        digests = true;
        uint8_t want[32];
        struct sk_outbox_row row = {
                .seq = seq, .id = id, .topic = topic, .payload = payload, .payload_len = len};
        ledger_event_digest(l->ledger_id, &row, want);
        v->digests++;
        if (sqlite3_column_bytes(s, 4) != 32 || memcmp(sqlite3_column_blob(s, 4), want, 32) != 0) {
            problem(v, "outbox", 0,
                    "outbox event seq %" PRId64 " (%s) does not match its digest: its payload, "
                    "topic or id was changed",
                    seq, topic);
            break;
        }
        cJSON *p = cJSON_ParseWithLength(payload, len);
        if (!cJSON_IsObject(p) || !same_int(p, "seq", seq) || !same_text(p, "id", id) ||
            !same_text(p, "ledger_id", l->ledger_id)) {
            problem(v, "outbox", 0,
                    "outbox event seq %" PRId64 ": its payload names another seq, id or ledger",
                    seq);
        }
        cJSON_Delete(p);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading the outbox");
}

int sk_ledger_verify(struct sk_ledger *l, struct sk_verify_result *ret)
{
    struct sk_verify_result v;
    memset(&v, 0, sizeof(v));
    /* One read transaction: the daemon may write meanwhile. */
    bool own = l->depth == 0;
    int r = own ? ledger_exec(l, "BEGIN", "verify") : 0;
    if (r < 0) {
        return r;
    }
    if ((r = walk_chain(l, &v)) == 0 && (r = check_stock(l, &v)) == 0) {
        r = check_outbox(l, &v);
    }
    if (r == 0 && l->anchor_on) {
        char why[sizeof(v.reason)];
        int a = ledger_anchor_verify(l, &v.anchored, why, sizeof(why));
        if (a == SK_ELEDGER_ROLLBACK || a == SK_ELEDGER_CHAIN) {
            if (!v.check[0]) {
                snprintf(v.check, sizeof(v.check), "anchor");
                snprintf(v.reason, sizeof(v.reason), "%s", why);
            }
        } else if (a < 0) {
            r = a;
        }
    }
    if (own) {
        sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    }
    if (r < 0) {
        return r;
    }
    *ret = v;
    if (!strcmp(v.check, "anchor")) {
        return SK_ELEDGER_ROLLBACK;
    }
    return v.check[0] ? SK_ELEDGER_CHAIN : 0;
}
