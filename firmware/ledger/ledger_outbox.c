/* SPDX-License-Identifier: MIT */
/* The transactional outbox (events for the MQTT link) and the durable present-tag set. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/error.h"
#include "storekeeper/sha256.h"

/*
 * DESIGN
 * An event is one outbox row: seq (per ledger, gap-free, never reused: the column is
 * AUTOINCREMENT and the next value is taken inside the writing transaction), a UUIDv7 id,
 * the topic suffix and the finished JSON payload. The payload is built once, when the fact
 * is recorded, so a re-publication after a crash sends the same bytes.
 *
 * The MQTT link reads pending rows on the same connection as the core writes them. SQLite
 * shows a connection its own uncommitted rows, so while a transaction is open only rows
 * with seq <= the last seq committed before it began are handed out: an event must never be
 * published and then rolled back (its seq would be reused for another event).
 */

/* ---- events ---------------------------------------------------------------------------- */

/* The digest of a row (schema 4): SHA-256 of "sk-event-1", then the ledger id, the seq as 8
 * bytes big endian, the event id, the topic and the payload, each text with a 4-byte big-endian
 * length before it. `ledger verify` recomputes it: a payload edited in the file shows. */
void ledger_event_digest(const char *ledger_id, const struct sk_outbox_row *row, uint8_t out[32])
{
    struct sk_sha256 ctx;
    const char *texts[4] = {ledger_id, row->id, row->topic, row->payload};
    size_t lens[4] = {strlen(ledger_id), strlen(row->id), strlen(row->topic), row->payload_len};
    uint8_t num[8];
    for (int i = 0; i < 8; i++) {
        num[i] = (uint8_t)((uint64_t)row->seq >> (56 - 8 * i));
    }
    sk_sha256_init(&ctx);
    sk_sha256_update(&ctx, "sk-event-1", 10);
    for (int i = 0; i < 4; i++) {
        uint8_t len[4] = {(uint8_t)(lens[i] >> 24), (uint8_t)(lens[i] >> 16),
                          (uint8_t)(lens[i] >> 8), (uint8_t)lens[i]};
        sk_sha256_update(&ctx, len, 4);
        sk_sha256_update(&ctx, texts[i], lens[i]);
        if (i == 0) {
            sk_sha256_update(&ctx, num, 8);
        }
    }
    sk_sha256_final(&ctx, out);
}

static const char *const reserved_keys[] = {
        "schema", "id", "seq", "ledger_id", "store_id", "device_id", "time", "publish_time", NULL};

static bool topic_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n >= SK_LEDGER_TOPIC_MAX || t[0] == '/' || t[n - 1] == '/') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '/' || c == '.';
        if (!ok || (c == '/' && t[i + 1] == '/')) {
            return false;
        }
    }
    return true;
}

static int fields_ok(struct sk_ledger *l, const cJSON *fields)
{
    if (!fields) {
        return 0;
    }
    if (!cJSON_IsObject(fields)) {
        return ledger_failf(l, -EINVAL, "event fields must be a JSON object");
    }
    for (const cJSON *c = fields->child; c; c = c->next) {
        for (size_t i = 0; reserved_keys[i]; i++) {
            if (c->string && strcmp(c->string, reserved_keys[i]) == 0) {
                return ledger_failf(l, -EINVAL, "event field \"%s\" is part of the envelope",
                                    c->string);
            }
        }
    }
    return 0;
}

/* The envelope, then the fields: a cJSON object's members, or members already written. */
static int event_insert(struct sk_ledger *l,
                        const char *topic,
                        const char *schema,
                        const cJSON *fields,
                        const char *members,
                        size_t members_len,
                        int64_t time_us,
                        int64_t *ret_seq)
{
    int64_t last = ledger_seq(l);
    if (last < 0) {
        return (int)last;
    }
    int64_t seq = last + 1;
    int64_t now = ledger_now_us(l);
    if (time_us <= 0) {
        time_us = now;
    }
    char id[SK_LEDGER_ID_LEN + 1];
    ledger_uuid7(now, id);
    char when[40];
    sk_format_time_utc(time_us, when, sizeof(when));

    /* bounded just past the stored payload limit: more is refused below */
    struct sk_buf b = ledger_scratch(l, SCRATCH_PAYLOAD, SK_LEDGER_PAYLOAD_MAX + 1);
    sk_buf_puts(&b, "{\"schema\":");
    if (schema) {
        sk_buf_json_string(&b, schema);
    } else {
        /* topic_ok: nothing in a topic needs escaping */
        sk_buf_puts(&b, "\"storekeeper/v1/");
        sk_buf_puts(&b, topic);
        sk_buf_put(&b, "\"", 1);
    }
    ledger_buf_key(&b, "id");
    sk_buf_json_string(&b, id);
    ledger_buf_key(&b, "seq");
    sk_buf_i64(&b, seq);
    ledger_buf_key(&b, "ledger_id");
    sk_buf_json_string(&b, l->ledger_id);
    ledger_buf_key(&b, "store_id");
    sk_buf_json_string(&b, l->store_id);
    ledger_buf_key(&b, "device_id");
    sk_buf_json_string(&b, l->device_id);
    ledger_buf_key(&b, "time");
    sk_buf_json_string(&b, when);
    for (const cJSON *c = fields ? fields->child : NULL; c; c = c->next) {
        ledger_buf_key(&b, c->string ? c->string : "");
        sk_buf_json(&b, c);
    }
    if (members && members_len) {
        sk_buf_put(&b, ",", 1);
        sk_buf_put(&b, members, members_len);
    }
    sk_buf_put(&b, "}", 1);
    if (b.err == -ENOMEM) {
        ledger_scratch_done(l, SCRATCH_PAYLOAD, &b);
        return ledger_failf(l, -ENOMEM, "building the event payload");
    }
    if (b.err || b.len > SK_LEDGER_PAYLOAD_MAX) {
        ledger_scratch_done(l, SCRATCH_PAYLOAD, &b);
        return ledger_failf(l, -EMSGSIZE, "event %s: payload exceeds %d bytes", topic,
                            SK_LEDGER_PAYLOAD_MAX);
    }

    int r = ledger_fault(l, "event");
    if (r < 0) {
        ledger_scratch_done(l, SCRATCH_PAYLOAD, &b);
        return r;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_EVENT_INSERT);
    if (!s) {
        ledger_scratch_done(l, SCRATCH_PAYLOAD, &b);
        return ledger_err(l);
    }
    uint8_t digest[32];
    struct sk_outbox_row row = {
            .seq = seq, .id = id, .topic = topic, .payload = b.p, .payload_len = b.len};
    ledger_event_digest(l->ledger_id, &row, digest);
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, b.p, (int)b.len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_blob(s, 6, digest, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    ledger_scratch_done(l, SCRATCH_PAYLOAD, &b);
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "writing an outbox event");
    }
    if (seq > l->txn_last_event) {
        l->txn_last_event = seq;
    }
    if (l->cache_ok) {
        l->c_seq = seq;
    }
    if (ret_seq) {
        *ret_seq = seq;
    }
    return 0;
}

int ledger_event_insert(struct sk_ledger *l,
                        const char *topic,
                        const char *schema,
                        const cJSON *fields,
                        int64_t time_us,
                        int64_t *ret_seq)
{
    return event_insert(l, topic, schema, fields, NULL, 0, time_us, ret_seq);
}

int ledger_event_insert_members(struct sk_ledger *l,
                                const char *topic,
                                const char *members,
                                size_t n,
                                int64_t time_us,
                                int64_t *ret_seq)
{
    return event_insert(l, topic, NULL, NULL, members, n, time_us, ret_seq);
}

int sk_ledger_event(struct sk_ledger *l,
                    const char *topic,
                    const char *schema,
                    const struct cJSON *fields,
                    int64_t time_us,
                    int64_t *ret_seq)
{
    if (!topic || !topic_ok(topic)) {
        return ledger_failf(l, -EINVAL, "bad event topic \"%s\"", topic ? topic : "(null)");
    }
    int r = fields_ok(l, fields);
    if (r < 0) {
        return r;
    }
    if (l->aborted) {
        return l->abort_err;
    }
    if (l->depth > 0) {
        /* One INSERT is atomic by itself: no savepoint needed inside a transaction. */
        return ledger_event_insert(l, topic, schema, fields, time_us, ret_seq);
    }
    r = sk_ledger_begin(l);
    if (r < 0) {
        return r;
    }
    int64_t seq = 0;
    r = ledger_event_insert(l, topic, schema, fields, time_us, &seq);
    if (r < 0) {
        sk_ledger_rollback(l);
        return r;
    }
    r = sk_ledger_commit(l);
    if (r < 0) {
        return r;
    }
    if (ret_seq) {
        *ret_seq = seq;
    }
    return 0;
}

/* ---- reading the outbox ---------------------------------------------------------------- */

struct outbox_visit {
    struct sk_ledger *l;
    sk_outbox_cb cb;
    void *ctx;
};

static int outbox_row(sqlite3_stmt *s, void *arg)
{
    const struct outbox_visit *v = arg;
    struct sk_outbox_row row = {
            .seq = sqlite3_column_int64(s, 0),
            .id = (const char *)sqlite3_column_text(s, 1),
            .topic = (const char *)sqlite3_column_text(s, 2),
            .payload = (const char *)sqlite3_column_text(s, 3),
            .payload_len = (size_t)sqlite3_column_bytes(s, 3),
            .created_us = sqlite3_column_int64(s, 4),
            .delivered_us = sqlite3_column_int64(s, 5),
    };
    if (!row.id || !row.topic || !row.payload) {
        return ledger_failf(v->l, -ENOMEM, "reading the outbox: out of memory");
    }
    return v->cb ? v->cb(&row, v->ctx) : 0;
}

static int iterate(struct sk_ledger *l,
                   enum ledger_stmt id,
                   int64_t after_seq,
                   size_t max,
                   sk_outbox_cb cb,
                   void *ctx)
{
    sqlite3_stmt *s = ledger_stmt(l, id);
    if (!s) {
        return ledger_err(l);
    }
    int64_t visible = l->depth > 0 ? l->txn_visible_seq : INT64_MAX;
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, visible);
    sqlite3_bind_int64(s, 3, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    struct outbox_visit v = {l, cb, ctx};
    return ledger_each_row(l, s, outbox_row, &v, "reading the outbox");
}

int sk_ledger_outbox_pending(
        struct sk_ledger *l, int64_t after_seq, size_t max, sk_outbox_cb cb, void *ctx)
{
    return iterate(l, ST_PENDING, after_seq, max, cb, ctx);
}

int sk_ledger_outbox_rows(struct sk_ledger *l,
                          int64_t after_seq,
                          size_t max,
                          bool pending_only,
                          sk_outbox_cb cb,
                          void *ctx)
{
    return iterate(l, pending_only ? ST_ROWS_PENDING : ST_ROWS, after_seq, max, cb, ctx);
}

int sk_ledger_outbox_delivered(struct sk_ledger *l, int64_t seq, int64_t delivered_us)
{
    if (l->aborted) {
        return l->abort_err;
    }
    bool own = l->depth == 0;
    if (own) {
        /* See the header: a lost mark costs a duplicate, not an event, so skip the fsync.
         * The next FULL commit syncs the WAL with this frame in it anyway. */
        sqlite3_stmt *p = ledger_stmt(l, ST_SYNC_NORMAL);
        if (!p || ledger_step_done(l, p, "synchronous") < 0) {
            return ledger_err(l);
        }
    }
    int r = 0;
    sqlite3_stmt *s = ledger_stmt(l, ST_DELIVER);
    if (!s) {
        r = ledger_err(l);
    } else {
        sqlite3_bind_int64(s, 1, seq);
        sqlite3_bind_int64(s, 2, delivered_us > 0 ? delivered_us : ledger_now_us(l));
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            r = ledger_fail(l, rc, "marking an event delivered");
        } else {
            r = sqlite3_changes(l->db) > 0 ? 1 : 0;
        }
    }
    if (own) {
        sqlite3_stmt *p = ledger_stmt(l, ST_SYNC_FULL);
        if (!p || ledger_step_done(l, p, "synchronous") < 0) {
            return ledger_err(l);
        }
        if (r >= 0) {
            l->full = false;
        }
    }
    return r;
}

int sk_ledger_outbox_resend(struct sk_ledger *l,
                            int64_t from_seq,
                            int64_t to_seq,
                            struct sk_outbox_resend *ret)
{
    if (l->aborted) {
        return l->abort_err;
    }
    memset(ret, 0, sizeof(*ret));
    if (from_seq < 1 || to_seq < from_seq) {
        return -EINVAL;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_RESEND_COUNT);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, from_seq);
    sqlite3_bind_int64(s, 2, to_seq);
    int rc = sqlite3_step(s);
    int64_t kept = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    int64_t delivered = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
        return ledger_fail(l, rc, "counting events to send again");
    }
    s = ledger_stmt(l, ST_RESEND);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, from_seq);
    sqlite3_bind_int64(s, 2, to_seq);
    int changed = ledger_step_changes(l, s, "marking events to send again");
    if (changed < 0) {
        return changed;
    }
    ret->requeued = changed;
    ret->pending = kept - delivered;
    ret->missing = to_seq - from_seq + 1 - kept;
    return 0;
}

static int64_t query_int(struct sk_ledger *l, enum ledger_stmt id, int col, const char *what)
{
    sqlite3_stmt *s = ledger_stmt(l, id);
    if (!s) {
        return ledger_err(l);
    }
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, col) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, what);
    }
    return v;
}

int sk_ledger_outbox_stats(struct sk_ledger *l, struct sk_outbox_stats *ret_stats)
{
    struct sk_outbox_stats st;
    memset(&st, 0, sizeof(st));
    int64_t v;
    if ((v = query_int(l, ST_PENDING_COUNT, 0, "counting pending events")) < 0) {
        return (int)v;
    }
    st.pending = v;
    if ((v = query_int(l, ST_DELIVERED_COUNT, 0, "counting delivered events")) < 0) {
        return (int)v;
    }
    st.delivered = v;
    if ((v = query_int(l, ST_LAST_DELIVERED, 0, "reading the outbox")) < 0) {
        return (int)v;
    }
    st.last_delivered_seq = v;
    if ((v = ledger_last_seq(l)) < 0) {
        return (int)v;
    }
    st.last_seq = v;
    sqlite3_stmt *s = ledger_stmt(l, ST_OLDEST_PENDING);
    if (!s) {
        return ledger_err(l);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        st.first_pending_seq = sqlite3_column_int64(s, 0);
        st.oldest_pending_us = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the outbox");
    }
    st.pruned = l->pruned;
    st.overflow = l->overflow;
    s = ledger_stmt(l, ST_LAST_MOVE);
    if (!s) {
        return ledger_err(l);
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        st.last_movement_id = sqlite3_column_int64(s, 0);
        if (sqlite3_column_bytes(s, 1) == 32) {
            ledger_hex(sqlite3_column_blob(s, 1), 32, st.head);
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    *ret_stats = st;
    return 0;
}

/* ---- retention and overflow ------------------------------------------------------------- */

static int prune(struct sk_ledger *l, enum ledger_stmt id, int64_t a, int64_t limit)
{
    sqlite3_stmt *s = ledger_stmt(l, id);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, limit);
    return ledger_step_changes(l, s, "pruning delivered events");
}

static int overflow_event(struct sk_ledger *l, bool overflow, int64_t pending, int64_t bound)
{
    cJSON *f = cJSON_CreateObject();
    if (!f || !cJSON_AddStringToObject(f, "state", overflow ? "overflow" : "recovered") ||
        !cJSON_AddNumberToObject(f, "pending", (double)pending) ||
        !cJSON_AddNumberToObject(f, "max_pending", (double)bound)) {
        cJSON_Delete(f);
        return ledger_failf(l, -ENOMEM, "building the overflow event");
    }
    int r = ledger_event_insert(l, "event/outbox_overflow", NULL, f, 0, NULL);
    cJSON_Delete(f);
    if (r == 0) {
        r = ledger_meta_set(l, "outbox_overflow", overflow ? "1" : "0");
    }
    return r;
}

int sk_ledger_outbox_maintain(struct sk_ledger *l, const struct sk_outbox_policy *p)
{
    if (l->aborted) {
        return l->abort_err;
    }
    int r = sk_ledger_begin(l);
    if (r < 0) {
        return r;
    }
    int64_t budget = p->max_prune ? (int64_t)p->max_prune : 5000;
    int total = 0;
    int64_t cutoff = ledger_now_us(l) - p->keep_delivered_s * 1000000;
    r = prune(l, ST_PRUNE_AGE, cutoff, budget);
    if (r >= 0) {
        total += r;
        budget -= r;
        if (budget > 0) {
            r = prune(l, ST_PRUNE_COUNT, p->keep_delivered_max > 0 ? p->keep_delivered_max : 0,
                      budget);
            total += r > 0 ? r : 0;
        }
    }
    bool was = l->overflow;
    if (r >= 0 && p->max_pending > 0) {
        int64_t pending = query_int(l, ST_PENDING_COUNT, 0, "counting pending events");
        if (pending < 0) {
            r = (int)pending;
        } else if (!l->overflow && pending > p->max_pending) {
            r = overflow_event(l, true, pending, p->max_pending);
            l->overflow = r == 0;
        } else if (l->overflow && pending < p->max_pending - p->max_pending / 10) {
            r = overflow_event(l, false, pending, p->max_pending);
            l->overflow = r != 0;
        }
    }
    if (r < 0) {
        sk_ledger_rollback(l);
        l->overflow = was;
        return r;
    }
    r = sk_ledger_commit(l);
    if (r < 0) {
        l->overflow = was;
        return r;
    }
    l->pruned += total;
    return total;
}

/* ---- observations from the store's other boards -------------------------------------------- */

static int origin_key(const char *origin, const char *ledger_id, char *buf, size_t size)
{
    if (!origin[0] || strlen(origin) >= 64 || !ledger_id[0] || strlen(ledger_id) >= 40) {
        return -EINVAL;
    }
    snprintf(buf, size, "origin:%s:%s", origin, ledger_id);
    return 0;
}

int sk_ledger_origin_seq(struct sk_ledger *l,
                         const char *origin,
                         const char *ledger_id,
                         int64_t *ret_n,
                         int64_t *ret_mark)
{
    char key[128], val[48];
    int r = origin_key(origin, ledger_id, key, sizeof(key));
    if (r < 0) {
        return r;
    }
    r = ledger_meta_get(l, key, val, sizeof(val));
    if (r < 0) {
        return r;
    }
    int64_t n = 0, mark = 0;
    if (r == 1) {
        char *end = NULL;
        errno = 0;
        n = strtoll(val, &end, 10);
        if (errno || end == val) {
            return ledger_failf(l, SK_ELEDGER_CORRUPT, "meta %s: \"%s\" is not a number", key, val);
        }
        mark = strtoll(end, NULL, 10);
    }
    *ret_n = n;
    *ret_mark = mark;
    return 0;
}

int sk_ledger_set_origin_seq(
        struct sk_ledger *l, const char *origin, const char *ledger_id, int64_t n, int64_t mark)
{
    if (l->aborted) {
        return l->abort_err;
    }
    char key[128], val[48];
    int r = origin_key(origin, ledger_id, key, sizeof(key));
    if (r < 0) {
        return r;
    }
    snprintf(val, sizeof(val), "%lld %lld", (long long)n, (long long)mark);
    return ledger_meta_set(l, key, val);
}

/* ---- presence ---------------------------------------------------------------------------- */

static void bind_key(sqlite3_stmt *s, const struct sk_tag_key *k)
{
    sqlite3_bind_text(s, 1, k->reader, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, k->antenna);
    sqlite3_bind_blob(s, 3, k->epc, k->epc_len, SQLITE_STATIC);
}

static int
present_write(struct sk_ledger *l, enum ledger_stmt id, const struct sk_tag_key *k, int64_t since)
{
    if (l->aborted) {
        return l->abort_err;
    }
    int r = ledger_fault(l, "present");
    if (r < 0) {
        return r;
    }
    sqlite3_stmt *s = ledger_stmt(l, id);
    if (!s) {
        return ledger_err(l);
    }
    bind_key(s, k);
    if (id == ST_PRESENT_ADD) {
        sqlite3_bind_int64(s, 4, since);
    }
    int changed = ledger_step_changes(l, s, "writing the present-tag set");
    return changed < 0 ? changed : changed > 0;
}

int sk_ledger_present_add(struct sk_ledger *l, const struct sk_tag_key *key, int64_t since_us)
{
    return present_write(l, ST_PRESENT_ADD, key, since_us);
}

int sk_ledger_present_remove(struct sk_ledger *l, const struct sk_tag_key *key)
{
    return present_write(l, ST_PRESENT_DEL, key, 0);
}

int sk_ledger_present_load(struct sk_ledger *l, struct sk_tagset *set)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_PRESENT_ALL);
    if (!s) {
        return ledger_err(l);
    }
    int n = 0, r = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sk_tag_key k;
        const char *reader = (const char *)sqlite3_column_text(s, 0);
        int antenna = sqlite3_column_int(s, 1);
        const void *epc = sqlite3_column_blob(s, 2);
        int len = sqlite3_column_bytes(s, 2);
        if (!reader || antenna < 0 || antenna > 255 || len <= 0 || len > SK_EPC_MAX || !epc) {
            continue; /* not something the core wrote; leave it */
        }
        sk_tag_key_set(&k, reader, (uint8_t)antenna, epc, (size_t)len);
        r = sk_tagset_add(set, &k, sqlite3_column_int64(s, 3));
        if (r == -ENOSPC) {
            break;
        }
        if (r < 0) {
            sqlite3_reset(s);
            return r;
        }
        n += r;
    }
    sqlite3_reset(s);
    if (r == -ENOSPC) {
        return ledger_failf(l, -ENOSPC, "the present-tag set holds only %d tags", n);
    }
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the present-tag set");
    }
    return n;
}

struct replace_ctx {
    struct sk_ledger *l;
    int n;
};

static int replace_one(const struct sk_tag_key *key, int64_t since, void *ctx)
{
    struct replace_ctx *c = ctx;
    int r = present_write(c->l, ST_PRESENT_ADD, key, since);
    if (r < 0) {
        return r;
    }
    c->n++;
    return 0;
}

int sk_ledger_present_replace(struct sk_ledger *l, const struct sk_tagset *set)
{
    int r = sk_ledger_begin(l);
    if (r < 0) {
        return r;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_PRESENT_CLEAR);
    r = s ? ledger_step_done(l, s, "clearing the present-tag set") : ledger_err(l);
    struct replace_ctx c = {l, 0};
    if (r == 0) {
        r = sk_tagset_foreach(set, NULL, replace_one, &c);
    }
    if (r < 0) {
        sk_ledger_rollback(l);
        return r;
    }
    r = sk_ledger_commit(l);
    return r < 0 ? r : c.n;
}

int64_t sk_ledger_present_count(struct sk_ledger *l)
{
    return query_int(l, ST_PRESENT_COUNT, 0, "counting present tags");
}
