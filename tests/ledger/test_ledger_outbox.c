/* SPDX-License-Identifier: MIT */
/* The outbox: envelopes, seq, pending iteration, delivery, stats, retention, overflow,
 * atomicity with the rows it belongs to, disk full, and the durable present-tag set. */
#include <cjson/cJSON.h>

#include "ledger_test.h"

static cJSON *fields(const char *key, const char *value)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, key, value);
    return f;
}

struct collect {
    int64_t seqs[256];
    char topics[256][SK_LEDGER_TOPIC_MAX];
    char *payloads[256];
    size_t n;
    size_t stop_at; /* 0: never */
};

static int collect_cb(const struct sk_outbox_row *row, void *ctx)
{
    struct collect *c = ctx;
    assert_true(c->n < 256);
    c->seqs[c->n] = row->seq;
    snprintf(c->topics[c->n], sizeof(c->topics[0]), "%s", row->topic);
    c->payloads[c->n] = strdup(row->payload);
    assert_int_equal(strlen(row->payload), row->payload_len);
    c->n++;
    return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void collect_free(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->payloads[i]);
    }
    memset(c, 0, sizeof(*c));
}

static void test_envelope_and_seq(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_ledger_info info;
    assert_int_equal(sk_ledger_get_info(t.l, &info), 0);
    cJSON *f = fields("sku", "COLA-033");
    cJSON_AddNumberToObject(f, "quantity", 2);
    int64_t seq = 0;
    sk_clock_manual_advance(&t.clk, 5000000);
    assert_int_equal(sk_ledger_event(t.l, "event/checkout", NULL, f, 1700000000123000LL, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(sk_ledger_event(t.l, "event/restock", "custom/schema", NULL, 0, &seq), 0);
    assert_int_equal(seq, 2);
    cJSON_Delete(f);

    struct collect c = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 10, collect_cb, &c), 2);
    assert_string_equal(c.topics[0], "event/checkout");
    cJSON *p = cJSON_Parse(c.payloads[0]);
    assert_non_null(p);
    assert_string_equal(cJSON_GetObjectItem(p, "schema")->valuestring,
                        "storekeeper/v1/event/checkout");
    assert_int_equal(cJSON_GetObjectItem(p, "seq")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItem(p, "store_id")->valuestring, "store-1");
    assert_string_equal(cJSON_GetObjectItem(p, "device_id")->valuestring, "dev-1");
    assert_string_equal(cJSON_GetObjectItem(p, "ledger_id")->valuestring, info.ledger_id);
    assert_string_equal(cJSON_GetObjectItem(p, "time")->valuestring, "2023-11-14T22:13:20.123Z");
    assert_string_equal(cJSON_GetObjectItem(p, "sku")->valuestring, "COLA-033");
    assert_int_equal(cJSON_GetObjectItem(p, "quantity")->valuedouble, 2);
    const char *id1 = cJSON_GetObjectItem(p, "id")->valuestring;
    assert_int_equal(strlen(id1), 36);
    cJSON *q = cJSON_Parse(c.payloads[1]);
    assert_string_equal(cJSON_GetObjectItem(q, "schema")->valuestring, "custom/schema");
    /* Event time 0 means now; ids differ. */
    assert_string_equal(cJSON_GetObjectItem(q, "time")->valuestring, "2023-11-14T22:13:25.000Z");
    assert_string_not_equal(cJSON_GetObjectItem(q, "id")->valuestring, id1);
    cJSON_Delete(p);
    cJSON_Delete(q);
    collect_free(&c);

    /* 1000 more: seq strictly increasing by one, ids unique (UNIQUE constraint holds). */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, &seq), 0);
        assert_int_equal(seq, 3 + i);
    }
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(DISTINCT id) FROM outbox"), 1002);
    lt_teardown(&t);
}

static void test_bad_events(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    const char *bad_topics[] = {"",        "/event",   "event/", "event//x", "event/+",
                                "event/#", "Event/Up", "ev ent", NULL};
    for (size_t i = 0; bad_topics[i]; i++) {
        assert_int_equal(sk_ledger_event(t.l, bad_topics[i], NULL, NULL, 0, NULL), -EINVAL);
    }
    char longt[200];
    memset(longt, 'a', sizeof(longt));
    longt[sizeof(longt) - 1] = '\0';
    assert_int_equal(sk_ledger_event(t.l, longt, NULL, NULL, 0, NULL), -EINVAL);
    cJSON *f = fields("seq", "mine");
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, f, 0, NULL), -EINVAL);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "\"seq\" is part of the envelope"));
    cJSON_Delete(f);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, arr, 0, NULL), -EINVAL);
    cJSON_Delete(arr);
    /* Payload bound. */
    char *big = malloc(SK_LEDGER_PAYLOAD_MAX + 1);
    memset(big, 'x', SK_LEDGER_PAYLOAD_MAX);
    big[SK_LEDGER_PAYLOAD_MAX] = '\0';
    f = fields("blob", big);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, f, 0, NULL), -EMSGSIZE);
    cJSON_Delete(f);
    free(big);
    /* Strings are escaped. */
    f = fields("note", "quote \" backslash \\ newline \n tab \t bell \a");
    assert_int_equal(sk_ledger_event(t.l, "event/x", "sch\"ema", f, 0, NULL), 0);
    cJSON_Delete(f);
    struct collect c = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 10, collect_cb, &c), 1);
    cJSON *p = cJSON_Parse(c.payloads[0]);
    assert_non_null(p);
    assert_string_equal(cJSON_GetObjectItem(p, "schema")->valuestring, "sch\"ema");
    assert_string_equal(cJSON_GetObjectItem(p, "note")->valuestring,
                        "quote \" backslash \\ newline \n tab \t bell \a");
    cJSON_Delete(p);
    collect_free(&c);
    /* Nothing else landed, and seq has no gap from the refused ones. */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 1);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) FROM outbox"), 1);
    lt_teardown(&t);
}

static void test_pending_and_delivery(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
        sk_clock_manual_advance(&t.clk, 1000000);
    }
    struct collect c = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 3, collect_cb, &c), 3);
    assert_int_equal(c.seqs[0], 1);
    assert_int_equal(c.seqs[2], 3);
    collect_free(&c);
    assert_int_equal(sk_ledger_outbox_pending(t.l, 3, 100, collect_cb, &c), 7);
    assert_int_equal(c.seqs[0], 4);
    assert_int_equal(c.seqs[6], 10);
    collect_free(&c);
    /* The callback can stop early; its value comes back. */
    c.stop_at = 2;
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 100, collect_cb, &c), 7);
    assert_int_equal(c.n, 2);
    collect_free(&c);

    /* Deliver 1, 2 and 5 (out of order, as PUBACKs may come). */
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 2, 0), 1);
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 1, 0), 1);
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 5, 0), 1);
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 5, 0), 0);  /* twice */
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 99, 0), 0); /* unknown */
    assert_int_equal(lt_int(t.l, "PRAGMA synchronous"), 2);      /* back to FULL */
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 100, collect_cb, &c), 7);
    assert_int_equal(c.seqs[0], 3);
    assert_int_equal(c.seqs[1], 4);
    assert_int_equal(c.seqs[2], 6);
    collect_free(&c);
    struct sk_outbox_stats st;
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), 0);
    assert_int_equal(st.pending, 7);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.first_pending_seq, 3);
    assert_int_equal(st.oldest_pending_us, 1700000000000000LL + 2000000);
    assert_int_equal(st.last_seq, 10);
    assert_int_equal(st.last_delivered_seq, 5);
    assert_false(st.overflow);
    /* All rows, delivered ones included. */
    assert_int_equal(sk_ledger_outbox_rows(t.l, 0, 100, false, collect_cb, &c), 10);
    collect_free(&c);
    lt_teardown(&t);
}

static int64_t listener_seq;
static int listener_calls;

static void on_commit(int64_t last_seq, void *ctx)
{
    assert_ptr_equal(ctx, &listener_seq);
    listener_seq = last_seq;
    listener_calls++;
}

static void test_uncommitted_rows_are_not_handed_out(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    assert_int_equal(sk_ledger_add_commit_listener(t.l, on_commit, &listener_seq), 0);
    listener_calls = 0;
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    assert_int_equal(listener_calls, 1);
    assert_int_equal(listener_seq, 1);

    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    struct collect c = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 100, collect_cb, &c), 1);
    collect_free(&c);
    /* Delivery marks inside the transaction join it. */
    assert_int_equal(sk_ledger_outbox_delivered(t.l, 1, 0), 1);
    assert_int_equal(listener_calls, 1);
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(listener_calls, 2);
    assert_int_equal(listener_seq, 3);
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 100, collect_cb, &c), 2);
    collect_free(&c);

    /* A rolled-back transaction leaves no event, no gap and no notification. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(listener_calls, 2);
    int64_t seq;
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, &seq), 0);
    assert_int_equal(seq, 4);
    sk_ledger_remove_commit_listener(t.l, on_commit, &listener_seq);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    assert_int_equal(listener_calls, 3);
    lt_teardown(&t);
}

static void key(struct sk_tag_key *k, const char *reader, int antenna, int n)
{
    uint8_t epc[12] = {0x30, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
    sk_tag_key_set(k, reader, (uint8_t)antenna, epc, sizeof(epc));
}

static void test_nested_and_atomic(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_tag_key k1, k2;
    key(&k1, "reader-a", 1, 1);
    key(&k2, "reader-a", 1, 2);

    /* A failure injected between the state row and its event: neither lands. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_present_add(t.l, &k1, 5), 1);
    ledger_test_fault(t.l, "event", 0, -EIO);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), -EIO);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(sk_ledger_present_count(t.l), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 0);

    /* A failure of the commit itself: neither lands either. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_present_add(t.l, &k1, 5), 1);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    ledger_test_fault(t.l, "commit", 0, -EIO);
    assert_int_equal(sk_ledger_commit(t.l), -EIO);
    assert_int_equal(sk_ledger_depth(t.l), 0);
    assert_int_equal(sk_ledger_present_count(t.l), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 0);

    /* Nesting: the inner part rolls back alone, the outer one commits. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_present_add(t.l, &k1, 5), 1);
    assert_int_equal(sk_ledger_event(t.l, "event/a", NULL, NULL, 0, NULL), 0);
    assert_int_equal(sk_ledger_begin(t.l), 2);
    assert_int_equal(sk_ledger_present_add(t.l, &k2, 6), 1);
    assert_int_equal(sk_ledger_event(t.l, "event/b", NULL, NULL, 0, NULL), 0);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(sk_ledger_depth(t.l), 1);
    assert_int_equal(sk_ledger_begin(t.l), 2);
    assert_int_equal(sk_ledger_event(t.l, "event/c", NULL, NULL, 0, NULL), 0);
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(sk_ledger_present_count(t.l), 1);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 2);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) FROM outbox"), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = 'event/c'"), 1);

    /* Misuse. */
    assert_int_equal(sk_ledger_commit(t.l), -EINVAL);
    assert_int_equal(sk_ledger_rollback(t.l), -EINVAL);
    lt_teardown(&t);
}

static void test_present(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_tag_key k;
    for (int i = 0; i < 50; i++) {
        key(&k, i % 2 ? "reader-a" : "reader-b", 1 + i % 3, i);
        assert_int_equal(sk_ledger_present_add(t.l, &k, 1000 + i), 1);
    }
    assert_int_equal(sk_ledger_present_add(t.l, &k, 1), 0); /* already there */
    key(&k, "reader-a", 2, 1);                              /* antenna 2 of reader a */
    assert_int_equal(sk_ledger_present_remove(t.l, &k), 1);
    assert_int_equal(sk_ledger_present_remove(t.l, &k), 0);
    sk_ledger_close(t.l);
    t.l = lt_open_flags(&t, SK_LEDGER_OWNER);

    struct sk_tagset *set;
    assert_int_equal(sk_tagset_new(1000, &set), 0);
    assert_int_equal(sk_ledger_present_load(t.l, set), 49);
    int64_t since = 0;
    key(&k, "reader-b", 1 + 10 % 3, 10);
    assert_true(sk_tagset_contains(set, &k, &since));
    assert_int_equal(since, 1010);
    key(&k, "reader-a", 2, 1);
    assert_false(sk_tagset_contains(set, &k, NULL));

    /* A bound smaller than the stored set: loaded up to the bound, and said so. */
    struct sk_tagset *small;
    assert_int_equal(sk_tagset_new(10, &small), 0);
    assert_int_equal(sk_ledger_present_load(t.l, small), -ENOSPC);
    assert_int_equal(sk_tagset_count(small), 10);

    /* Replace writes the set exactly. */
    assert_int_equal(sk_ledger_present_replace(t.l, small), 10);
    assert_int_equal(sk_ledger_present_count(t.l), 10);
    sk_tagset_clear(set);
    assert_int_equal(sk_ledger_present_load(t.l, set), 10);
    sk_tagset_free(small);
    sk_tagset_free(set);
    lt_teardown(&t);
}

static void test_retention_and_overflow(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    /* 30 events, one second apart; the first 20 delivered right away. */
    for (int i = 1; i <= 30; i++) {
        assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
        if (i <= 20) {
            assert_int_equal(sk_ledger_outbox_delivered(t.l, i, 0), 1);
        }
        sk_clock_manual_advance(&t.clk, 1000000);
    }
    /* Now is 30 s after the first. Keep delivered rows 15 s: seq 1..15 go. */
    struct sk_outbox_policy p = {
            .keep_delivered_s = 15, .keep_delivered_max = 1000, .max_pending = 0};
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 15);
    assert_int_equal(lt_int(t.l, "SELECT min(seq) FROM outbox"), 16);
    /* Count bound: keep 2 of the 5 delivered left. */
    p.keep_delivered_s = 3600;
    p.keep_delivered_max = 2;
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 3);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE delivered_us IS NOT NULL"), 2);
    /* Undelivered rows are never pruned, however old and many. */
    p.keep_delivered_s = 0;
    p.keep_delivered_max = 0;
    sk_clock_manual_advance(&t.clk, 86400LL * 1000000 * 400);
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 10);
    struct sk_outbox_stats st;
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), 0);
    assert_int_equal(st.pruned, 20);
    assert_int_equal(st.pending, 10);
    /* Pruning all delivered rows does not make seq go back. */
    int64_t seq;
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, &seq), 0);
    assert_int_equal(seq, 31);

    /* A bounded prune per call. */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(sk_ledger_outbox_delivered(t.l, 21 + i, 0), i < 11 ? 1 : 0);
    }
    p.max_prune = 4;
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 4);

    /* Overflow: 11 pending above a bound of 10 -> one event, not two. */
    for (int i = 0; i < 11; i++) {
        assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), 0);
    }
    p.max_pending = 10;
    p.max_prune = 0;
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 7);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = "
                                 "'event/outbox_overflow'"),
                     1);
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = "
                                 "'event/outbox_overflow'"),
                     1);
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), 0);
    assert_true(st.overflow);
    /* The state survives a restart: no second overflow event. */
    sk_ledger_close(t.l);
    t.l = lt_open_flags(&t, SK_LEDGER_OWNER);
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = "
                                 "'event/outbox_overflow'"),
                     1);
    /* Delivering brings it under 90 %: one "recovered" event. */
    struct collect c = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 100, collect_cb, &c), 12);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(sk_ledger_outbox_delivered(t.l, c.seqs[i], 0), 1);
    }
    char *overflow = NULL;
    for (size_t i = 0; i < c.n; i++) {
        if (strcmp(c.topics[i], "event/outbox_overflow") == 0) {
            overflow = c.payloads[i];
        }
    }
    assert_non_null(overflow);
    assert_non_null(strstr(overflow, "\"state\":\"overflow\",\"pending\":11,\"max_pending\":10"));
    collect_free(&c);
    assert_int_equal(sk_ledger_outbox_maintain(t.l, &p), 6);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = "
                                 "'event/outbox_overflow' AND payload LIKE '%recovered%'"),
                     1);
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), 0);
    assert_false(st.overflow);
    lt_teardown(&t);
}

static void test_disk_full(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_tag_key k;
    cJSON *f = cJSON_CreateObject();
    char pad[900];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    cJSON_AddStringToObject(f, "pad", pad);
    assert_int_equal(sk_ledger_set_max_size(t.l, 64 * 4096), 0);
    int committed = 0, r = 0;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(sk_ledger_begin(t.l), 1);
        key(&k, "reader-a", 1, i);
        r = sk_ledger_present_add(t.l, &k, i);
        if (r == 0 || r == 1) {
            r = sk_ledger_event(t.l, "event/x", NULL, f, 0, NULL);
        }
        if (r < 0) {
            sk_ledger_rollback(t.l);
            break;
        }
        r = sk_ledger_commit(t.l);
        if (r < 0) {
            break;
        }
        committed++;
    }
    assert_int_equal(r, SK_ELEDGER_FULL);
    assert_true(sk_ledger_is_full(t.l));
    assert_true(committed > 50);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "full"));
    /* What was committed is intact; the failed transaction left nothing. */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), committed);
    assert_int_equal(sk_ledger_present_count(t.l), committed);
    /* Reads still work while full. */
    struct sk_outbox_stats st;
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), 0);
    assert_int_equal(st.last_seq, committed);
    /* Space comes back: writing resumes where it stopped, without a seq gap. */
    assert_int_equal(sk_ledger_set_max_size(t.l, 0), 0);
    int64_t seq;
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, f, 0, &seq), 0);
    assert_int_equal(seq, committed + 1);
    assert_false(sk_ledger_is_full(t.l));
    lt_assert_integrity(t.l);
    cJSON_Delete(f);
    lt_teardown(&t);
}

/* Every failure keeps its cause: SQLite's codes are translated once, and a call that finds its
 * transaction already lost (SQLite rolled it back after a full disk) reports why, not a generic
 * "ledger database error". */
static void test_errors_keep_their_cause(void **state)
{
    (void)state;

    static const struct {
        int rc, err;
    } map[] = {
            {SQLITE_FULL, SK_ELEDGER_FULL},
            {SQLITE_CORRUPT, SK_ELEDGER_CORRUPT},
            {SQLITE_NOTADB, SK_ELEDGER_SCHEMA},
            {SQLITE_BUSY, -EBUSY},
            {SQLITE_LOCKED, -EBUSY},
            {SQLITE_READONLY, -EROFS},
            {SQLITE_IOERR_WRITE, -EIO},
            {SQLITE_IOERR_NOMEM, -ENOMEM},
            {SQLITE_NOMEM, -ENOMEM},
            {SQLITE_CONSTRAINT_UNIQUE, -EEXIST},
            {SQLITE_CONSTRAINT_FOREIGNKEY, -ENOENT},
            {SQLITE_CONSTRAINT_TRIGGER, -EPERM},
            {SQLITE_CONSTRAINT_CHECK, -EINVAL},
            {SQLITE_TOOBIG, -EMSGSIZE},
            {SQLITE_CANTOPEN_ISDIR, -EISDIR},
            {SQLITE_ERROR, SK_ELEDGER},
            {SQLITE_DONE, 0},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        assert_int_equal(ledger_sqlite_err(map[i].rc), map[i].err);
    }
    for (int e = SK_ELEDGER; e >= SK_ELEDGER_ROLLBACK; e--) {
        assert_string_not_equal(sk_strerror(e), "unknown error");
    }

    struct lt t;
    lt_setup(&t);
    struct sk_product p = {.sku = "cola", .name = "Cola", .price_minor = 100, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t.l, &p), 0);
    /* What SQLite does after ENOSPC inside a transaction: the transaction is gone. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sqlite3_exec(ledger_test_db(t.l), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    t.l->aborted = true;
    t.l->abort_err = SK_ELEDGER_FULL;
    struct sk_tag_key k;
    key(&k, "reader-a", 1, 1);
    int64_t q;
    struct sk_outbox_stats st;
    assert_int_equal(sk_ledger_product_get(t.l, "cola", &p), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_stock_get(t.l, "shelf", "cola", &q), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_present_add(t.l, &k, 1), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_outbox_stats(t.l, &st), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_commit(t.l), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_depth(t.l), 0);
    /* A refused change names its cause too: movements are append-only. */
    assert_int_equal(sqlite3_exec(ledger_test_db(t.l),
                                  "INSERT INTO shelves (name, updated_us) VALUES ('s', 1)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    struct sk_movement m = {.type = SK_MOVE_RESTOCK, .sku = "cola", .shelf = "s", .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), 0);
    assert_int_equal(ledger_exec(t.l, "DELETE FROM movements", "deleting"), -EPERM);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "append-only"));
    lt_teardown(&t);
}

/* The replies to commands by sender and request id: found again, in the caller's transaction
 * (gone with its rollback), bounded in number and age. */
static void test_command_requests(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_ledger_request req = {.command = "restock_done",
                                    .fingerprint = 0xfedcba9876543210ULL};
    snprintf(req.result, sizeof(req.result), "{\"status\":\"done\"}");
    struct sk_ledger_request got;
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "r-1", &got), 0);
    assert_int_equal(sk_ledger_request_put(t.l, "billing", "r-1", &req, 0), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "r-1", &got), 1);
    assert_string_equal(got.command, "restock_done");
    assert_true(got.fingerprint == 0xfedcba9876543210ULL);
    assert_string_equal(got.result, "{\"status\":\"done\"}");
    assert_int_equal(got.recorded_us, 1700000000000000LL);
    /* Per sender: another one's r-1 is another request. */
    assert_int_equal(sk_ledger_request_get(t.l, "dashboard", "r-1", &got), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "", "r-1", &got), 0);
    /* Written in the caller's transaction: a rollback takes it away with the effects. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_request_put(t.l, "billing", "r-2", &req, 0), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "r-2", &got), 1);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "r-2", &got), 0);
    /* Bad keys are refused. */
    assert_int_equal(sk_ledger_request_put(t.l, "billing", "", &req, 0), -EINVAL);
    /* At most keep_max: the oldest go first. */
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "n-%d", i);
        sk_clock_manual_advance(&t.clk, 1000000);
        assert_int_equal(sk_ledger_request_put(t.l, "billing", id, &req, 5), 0);
    }
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM requests"), 5);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "n-4", &got), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "n-5", &got), 1);
    /* And none older than keep_s. */
    sk_clock_manual_advance(&t.clk, 3500000);
    assert_int_equal(sk_ledger_request_expire(t.l, 6), 2); /* n-5 and n-6 are older than 6 s */
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "n-6", &got), 0);
    assert_int_equal(sk_ledger_request_get(t.l, "billing", "n-7", &got), 1);
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_envelope_and_seq),
            cmocka_unit_test(test_bad_events),
            cmocka_unit_test(test_pending_and_delivery),
            cmocka_unit_test(test_uncommitted_rows_are_not_handed_out),
            cmocka_unit_test(test_nested_and_atomic),
            cmocka_unit_test(test_present),
            cmocka_unit_test(test_retention_and_overflow),
            cmocka_unit_test(test_disk_full),
            cmocka_unit_test(test_errors_keep_their_cause),
            cmocka_unit_test(test_command_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
