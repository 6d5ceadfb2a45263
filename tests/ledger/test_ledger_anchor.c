/* SPDX-License-Identifier: MIT */
/* The anchor file and the whole-book verify: a ledger behind its last known state (an older copy,
 * a lost file), a replaced one, a damaged or torn anchor, a broken chain head; accepting a
 * rollback; and `ledger verify` catching each kind of tampering. */
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ledger_test.h"

static struct sk_ledger *open_anchored(struct lt *t, unsigned flags, int *ret, char *msg)
{
    struct sk_ledger_opts o = {.path = t->path,
                               .store_id = "store-1",
                               .device_id = "dev-1",
                               .flags = flags | SK_LEDGER_ANCHOR,
                               .clock = &t->clk.clock,
                               .config_path = "/etc/storekeeper/store.cfg"};
    struct sk_ledger *l = NULL;
    char buf[SK_LEDGER_ERRMSG_MAX];
    *ret = sk_ledger_open(&o, msg ? msg : buf, SK_LEDGER_ERRMSG_MAX, &l);
    return l;
}

static void setup(struct lt *t)
{
    memset(t, 0, sizeof(*t));
    sk_test_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/ledger.db", t->dir);
    sk_clock_manual_init(&t->clk, 1000000, 1700000000000000LL);
    int r;
    t->l = open_anchored(t, SK_LEDGER_CREATE | SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    struct sk_product p = {.sku = "COLA", .name = "Cola", .price_minor = 100, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t->l, &p), 0);
    assert_int_equal(sqlite3_exec(ledger_test_db(t->l),
                                  "INSERT INTO shelves (name, updated_us) VALUES ('A1', 1)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
}

static void restock(struct lt *t, int n)
{
    for (int i = 0; i < n; i++) {
        struct sk_movement m = {
                .type = SK_MOVE_RESTOCK, .sku = "COLA", .shelf = "A1", .quantity = 1};
        sk_clock_manual_advance(&t->clk, 1000);
        assert_int_equal(sk_ledger_move(t->l, &m, SK_MOVE_EVENT, NULL), 0);
    }
}

static void copy_file(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static void reopen_owner_refused(struct lt *t, int want, const char *needle)
{
    int r;
    char msg[SK_LEDGER_ERRMSG_MAX];
    struct sk_ledger *l = open_anchored(t, SK_LEDGER_CREATE | SK_LEDGER_OWNER, &r, msg);
    if (r != want || !strstr(msg, needle)) {
        fprintf(stderr, "open: %d %s\n", r, msg);
    }
    assert_int_equal(r, want);
    assert_null(l);
    assert_non_null(strstr(msg, needle));
    assert_non_null(strstr(msg, "Fix: "));
    assert_null(strchr(msg, '\n')); /* one line */
}

/* An older copy put back (or a lost -wal): the owner refuses; a reader may look but not write;
 * accepting records a movement and an event, and no seq is ever used twice. */
static void test_behind_refused_then_accepted(void **state)
{
    (void)state;
    struct lt t;
    setup(&t);
    restock(&t, 3);
    sk_ledger_close(t.l);
    char old[256];
    snprintf(old, sizeof(old), "%s/old.db", t.dir);
    copy_file(t.path, old);
    int r;
    t.l = open_anchored(&t, SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    restock(&t, 2); /* seq 4, 5 reach the cloud, say */
    char lost_id[SK_LEDGER_ID_LEN + 1];
    struct sk_ledger_head h;
    assert_int_equal(sk_ledger_head(t.l, &h), 0);
    assert_int_equal(h.seq, 5);
    snprintf(lost_id, sizeof(lost_id), "%s", h.event_id);
    sk_ledger_close(t.l);
    copy_file(old, t.path);

    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK, "is behind its last known state");
    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK,
                         "`storekeeper ledger -c /etc/storekeeper/store.cfg accept-rollback`");
    /* A reader opens it, sees why, cannot write. */
    t.l = open_anchored(&t, 0, &r, NULL);
    assert_int_equal(r, 0);
    int err = 0;
    assert_non_null(sk_ledger_refusal(t.l, &err));
    assert_int_equal(err, SK_ELEDGER_ROLLBACK);
    struct sk_movement m = {.type = SK_MOVE_RESTOCK, .sku = "COLA", .shelf = "A1", .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), SK_ELEDGER_ROLLBACK);
    assert_int_equal(sk_ledger_event(t.l, "event/x", NULL, NULL, 0, NULL), SK_ELEDGER_ROLLBACK);
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), SK_ELEDGER_ROLLBACK);
    assert_string_equal(v.check, "anchor");
    sk_ledger_close(t.l);

    /* Accepting: one movement and one event record it; the seqs the anchor knew stay used. */
    t.l = open_anchored(&t, SK_LEDGER_ACCEPT_ROLLBACK, &r, NULL);
    assert_int_equal(r, 0);
    struct sk_rollback_result res;
    assert_int_equal(sk_ledger_accept_rollback(t.l, "restored the backup of monday", &res), 0);
    assert_true(res.accepted);
    assert_string_equal(res.reason, "behind");
    assert_int_equal(res.known.seq, 5);
    assert_int_equal(res.found.seq, 3);
    assert_int_equal((res.lost_from), 4);
    assert_int_equal(res.lost_to, 5);
    assert_int_equal(res.event_seq, 6);
    assert_int_equal(res.movement_id, 6); /* nor a movement id */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements WHERE type = 'rollback'"), 1);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = 'event/rollback' AND "
                                 "payload LIKE '%\"lost_seqs\":{\"from\":4,\"to\":5}%' AND "
                                 "payload LIKE '%restored the backup of monday%'"),
                     1);
    assert_null(sk_ledger_refusal(t.l, NULL));
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_true(v.anchored);
    sk_ledger_close(t.l);
    /* Back to work: new events continue after every seq ever used; seq 4 is never reused. */
    t.l = open_anchored(&t, SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    restock(&t, 1);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) FROM outbox"), 7);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE seq IN (4, 5)"), 0);
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 5);
    /* Accepting again: nothing to accept. */
    sk_ledger_close(t.l);
    t.l = open_anchored(&t, SK_LEDGER_ACCEPT_ROLLBACK, &r, NULL);
    assert_int_equal(sk_ledger_accept_rollback(t.l, NULL, &res), 0);
    assert_false(res.accepted);
    (void)lost_id;
    lt_teardown(&t);
}

/* A file truncated to 0 bytes, or deleted: not silently replaced by a new ledger. */
static void test_lost_file_not_replaced(void **state)
{
    (void)state;
    struct lt t;
    setup(&t);
    restock(&t, 2);
    sk_ledger_close(t.l);
    t.l = NULL;
    assert_int_equal(truncate(t.path, 0), 0);
    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK, "the file is empty (0 bytes)");
    struct stat st;
    assert_int_equal(stat(t.path, &st), 0);
    assert_int_equal(st.st_size, 0); /* untouched */
    assert_int_equal(unlink(t.path), 0);
    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK, "there is no ledger file");
    assert_int_not_equal(stat(t.path, &st), 0); /* not created */
    /* Accepted: a new ledger whose first record is the loss of the old one. */
    int r;
    t.l = open_anchored(&t, SK_LEDGER_CREATE | SK_LEDGER_ACCEPT_ROLLBACK, &r, NULL);
    assert_int_equal(r, 0);
    struct sk_rollback_result res;
    assert_int_equal(sk_ledger_accept_rollback(t.l, NULL, &res), 0);
    assert_true(res.accepted);
    assert_string_equal(res.reason, "lost");
    assert_string_not_equal(res.known.ledger_id, res.found.ledger_id);
    assert_int_equal(res.known.seq, 2);
    assert_int_equal(res.event_seq, 1); /* a new ledger_id: seq starts again */
    sk_ledger_close(t.l);
    t.l = open_anchored(&t, SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    lt_teardown(&t);
}

/* Another ledger put in the place of this one. */
static void test_replaced_file(void **state)
{
    (void)state;
    struct lt t, other;
    setup(&t);
    restock(&t, 1);
    sk_ledger_close(t.l);
    setup(&other);
    restock(&other, 4);
    sk_ledger_close(other.l);
    other.l = NULL;
    copy_file(other.path, t.path);
    t.l = NULL;
    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK, "the file was replaced");
    lt_teardown(&other);
    lt_teardown(&t);
}

/* The anchor's fdatasync is paced (SK_LEDGER_ANCHOR_SYNC_MS), its write is not: every commit's
 * head is in the file at once, for every reader; the sync follows within the interval, on
 * sk_ledger_anchor_flush or at close; with synchronous=OFF it is never synced. */
static void test_anchor_sync_paced(void **state)
{
    (void)state;
    struct lt t;
    setup(&t);
    restock(&t, 1);
    /* Commits in quick succession: written, not synced each time. */
    t.l->anchor_synced_us = sk_now_mono_us();
    restock(&t, 5);
    assert_true(t.l->anchor_unsynced);
    struct ledger_anchor a;
    assert_int_equal(ledger_anchor_load(t.path, &a), 1);
    struct sk_ledger_head h;
    assert_int_equal(sk_ledger_head(t.l, &h), 0);
    assert_int_equal(a.head.movement_id, 6);
    assert_int_equal(a.head.movement_id, h.movement_id);
    assert_int_equal(a.head.seq, h.seq);
    assert_string_equal(a.head.hash, h.hash);
    assert_int_equal(sk_ledger_anchor_flush(t.l), 1);
    assert_false(t.l->anchor_unsynced);
    assert_int_equal(sk_ledger_anchor_flush(t.l), 0);
    /* The last sync an interval ago: the commit syncs it itself. */
    t.l->anchor_synced_us = sk_now_mono_us() - (SK_LEDGER_ANCHOR_SYNC_MS + 1) * 1000;
    restock(&t, 1);
    assert_false(t.l->anchor_unsynced);
    assert_true(t.l->anchor_synced_us > sk_now_mono_us() - SK_LEDGER_ANCHOR_SYNC_MS * 1000);
    /* Left unsynced, the close syncs it (nothing left pending to lose). */
    restock(&t, 1);
    assert_true(t.l->anchor_unsynced);
    sk_ledger_close(t.l);
    t.l = NULL;
    assert_int_equal(ledger_anchor_load(t.path, &a), 1);
    assert_int_equal(a.head.movement_id, 8);
    /* synchronous=OFF (tests, the CPU benchmark): never more durable than the ledger. */
    int r;
    t.l = open_anchored(&t, SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(
            sqlite3_exec(ledger_test_db(t.l), "PRAGMA synchronous = OFF", NULL, NULL, NULL),
            SQLITE_OK);
    t.l->anchor_synced_us = 0;
    restock(&t, 2);
    assert_false(t.l->anchor_unsynced);
    assert_int_equal(sk_ledger_anchor_flush(t.l), 0);
    assert_int_equal(ledger_anchor_load(t.path, &a), 1);
    assert_int_equal(a.head.movement_id, 10);
    lt_teardown(&t);
}

/* The anchor's own damage: a torn slot falls back to the other; both damaged is refused. */
static void test_damaged_anchor(void **state)
{
    (void)state;
    struct lt t;
    setup(&t);
    restock(&t, 3);
    sk_ledger_close(t.l);
    t.l = NULL;
    char ap[256];
    snprintf(ap, sizeof(ap), "%s.anchor", t.path);
    struct ledger_anchor a;
    assert_int_equal(ledger_anchor_load(t.path, &a), 1);
    uint64_t gen = a.generation;
    /* Tear the newest slot: the previous state is still there (older: the ledger is ahead). */
    int fd = open(ap, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "garbage", 7, (off_t)(gen % 2) * 512 + 40), 7);
    close(fd);
    assert_int_equal(ledger_anchor_load(t.path, &a), 1);
    assert_int_equal(a.generation, gen - 1);
    int r;
    t.l = open_anchored(&t, SK_LEDGER_OWNER, &r, NULL);
    assert_int_equal(r, 0);
    sk_ledger_close(t.l);
    t.l = NULL;
    /* Both slots damaged. */
    fd = open(ap, O_WRONLY);
    assert_int_equal(pwrite(fd, "garbagegarbage", 14, 30), 14);
    assert_int_equal(pwrite(fd, "garbagegarbage", 14, 512 + 30), 14);
    close(fd);
    assert_int_equal(ledger_anchor_load(t.path, &a), -EBADMSG);
    reopen_owner_refused(&t, SK_ELEDGER_ROLLBACK, "is damaged");
    lt_teardown(&t);
}

/* The daemon refuses to extend a broken chain: the last movement changed behind its back. */
static void test_broken_chain_head(void **state)
{
    (void)state;
    struct lt t;
    setup(&t);
    restock(&t, 3);
    sqlite3 *db = ledger_test_db(t.l);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER movements_append_only_update;"
                                  "UPDATE movements SET quantity = 50 WHERE id = 3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sk_ledger_close(t.l);
    t.l = NULL;
    reopen_owner_refused(&t, SK_ELEDGER_CHAIN, "refusing to extend a broken chain");
    lt_teardown(&t);
}

static int64_t tamper_and_verify(struct lt *t, const char *sql, const char *check)
{
    sqlite3 *db = ledger_test_db(t->l);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
    }
    assert_int_equal(rc, SQLITE_OK);
    struct sk_verify_result v;
    int r = sk_ledger_verify(t->l, &v);
    if (r == 0 || strcmp(v.check, check) != 0) {
        fprintf(stderr, "after %s: %d %s %s\n", sql, r, v.check, v.reason);
    }
    assert_int_not_equal(r, 0);
    assert_string_equal(v.check, check);
    return v.first_bad_id;
}

/* Each kind of tampering the issue found unnoticed is caught by verify. */
static void test_verify_the_whole_book(void **state)
{
    (void)state;

    static const struct {
        const char *sql, *check;
    } cases[] = {
            {"UPDATE stock SET quantity = 1000", "stock"},
            {"UPDATE outbox SET payload = replace(payload, '\"quantity\":1', '\"quantity\":7') "
             "WHERE seq = 3",
             "event"},
            {"UPDATE movements SET event_seq = 2 WHERE id = 3", "chain"},
            {"UPDATE movements SET recorded_us = recorded_us + 1 WHERE id = 2", "chain"},
            {"DELETE FROM movements WHERE id = 5", "stock"},
            {"UPDATE outbox SET payload = replace(payload, 'A1', 'B2') WHERE seq = 5", "event"},
            {"UPDATE outbox SET digest = NULL WHERE seq = 4", "outbox"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lt t;
        setup(&t);
        restock(&t, 5);
        struct sk_verify_result v;
        assert_int_equal(sk_ledger_verify(t.l, &v), 0);
        assert_int_equal(v.movements, 5);
        assert_int_equal(v.events, 5);
        assert_int_equal(v.digests, 5);
        assert_int_equal(v.stock_rows, 1);
        assert_int_equal(sqlite3_exec(ledger_test_db(t.l),
                                      "DROP TRIGGER movements_append_only_update;"
                                      "DROP TRIGGER movements_append_only_delete;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        tamper_and_verify(&t, cases[i].sql, cases[i].check);
        lt_teardown(&t);
    }
    /* A pending event edited where the digest is all that can tell (not a movement's). */
    struct lt t;
    setup(&t);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "total_minor", 450);
    assert_int_equal(sk_ledger_event(t.l, "event/checkout", NULL, f, 0, NULL), 0);
    cJSON_Delete(f);
    tamper_and_verify(&t, "UPDATE outbox SET payload = replace(payload, '450', '45') ", "outbox");
    lt_teardown(&t);
    /* The newest movement and its event deleted together: the anchor knew them. */
    setup(&t);
    restock(&t, 3);
    assert_int_equal(sqlite3_exec(ledger_test_db(t.l),
                                  "DROP TRIGGER movements_append_only_delete;"
                                  "DELETE FROM movements WHERE id = 3; DELETE FROM outbox WHERE "
                                  "seq = 3; UPDATE stock SET quantity = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), SK_ELEDGER_ROLLBACK);
    assert_string_equal(v.check, "anchor");
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_behind_refused_then_accepted),
            cmocka_unit_test(test_lost_file_not_replaced),
            cmocka_unit_test(test_replaced_file),
            cmocka_unit_test(test_damaged_anchor),
            cmocka_unit_test(test_anchor_sync_paced),
            cmocka_unit_test(test_broken_chain_head),
            cmocka_unit_test(test_verify_the_whole_book),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
