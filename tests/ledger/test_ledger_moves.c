/* SPDX-License-Identifier: MIT */
/* Catalog, movements, stock, low-stock events, the hash chain and sessions. */
#include <cjson/cJSON.h>

#include "ledger_test.h"
#include "storekeeper/epc.h"

/* Shelves A1, B1, C1 on reader-a/b/c, antenna 1. */
static void catalog(struct lt *t)
{
    static struct sk_shelf_cfg shelves[3] = {
            {.name = "A1", .reader = "reader-a", .antenna = 1},
            {.name = "B1", .reader = "reader-b", .antenna = 1},
            {.name = "C1", .reader = "reader-c", .antenna = 0},
    };
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = shelves;
    cfg.n_shelves = 3;
    assert_int_equal(sk_ledger_sync_shelves(t->l, &cfg), 3);
    struct sk_product p = {.sku = "COLA-033",
                           .gtin = "00012345678905",
                           .name = "Cola 0.33 l",
                           .price_minor = 149,
                           .currency = "EUR",
                           .restock_threshold = 3,
                           .restock_target = 12};
    assert_int_equal(sk_ledger_product_put(t->l, &p), 0);
    struct sk_product q = {.sku = "CHIPS", .name = "Chips", .price_minor = 199, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t->l, &q), 0);
    assert_int_equal(sk_ledger_planogram_put(t->l, "A1", "COLA-033", 12), 0);
    assert_int_equal(sk_ledger_planogram_put(t->l, "B1", "CHIPS", 8), 0);
}

static int64_t stock(struct lt *t, const char *shelf, const char *sku)
{
    int64_t q = -999;
    assert_int_equal(sk_ledger_stock_get(t->l, shelf, sku, &q), 0);
    return q;
}

static void test_catalog(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_product p;
    assert_int_equal(sk_ledger_product_get(t.l, "COLA-033", &p), 1);
    assert_string_equal(p.name, "Cola 0.33 l");
    assert_int_equal(p.price_minor, 149);
    assert_int_equal(sk_ledger_product_get(t.l, "NOPE", &p), 0);
    /* Update in place. */
    p.price_minor = 159;
    assert_int_equal(sk_ledger_product_put(t.l, &p), 0);
    assert_int_equal(sk_ledger_product_get(t.l, "COLA-033", &p), 1);
    assert_int_equal(p.price_minor, 159);
    /* Bad GTIN check digit, GTIN of another product, bad sku. */
    struct sk_product bad = {.sku = "X", .gtin = "00012345678904", .name = "x", .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t.l, &bad), -EINVAL);
    snprintf(bad.gtin, sizeof(bad.gtin), "00012345678905");
    assert_int_equal(sk_ledger_product_put(t.l, &bad), -EEXIST);
    snprintf(bad.sku, sizeof(bad.sku), "has space");
    bad.gtin[0] = '\0';
    assert_int_equal(sk_ledger_product_put(t.l, &bad), -EINVAL);

    /* Tag to sku: by GTIN inside an SGTIN-96, or an explicit mapping, which wins. */
    uint8_t epc[12];
    assert_int_equal(sk_epc_encode_sgtin96("00012345678905", 7, 1001, 1, epc), 0);
    char sku[SK_LEDGER_SKU_MAX];
    assert_int_equal(sk_ledger_sku_for_epc(t.l, epc, 12, sku, sizeof(sku)), 1);
    assert_string_equal(sku, "COLA-033");
    assert_int_equal(sk_ledger_tag_put(t.l, epc, 12, "CHIPS"), 0);
    assert_int_equal(sk_ledger_sku_for_epc(t.l, epc, 12, sku, sizeof(sku)), 1);
    assert_string_equal(sku, "CHIPS");
    uint8_t raw[8] = {0xe2, 0x80, 0x11, 0x60, 0x60, 0x00, 0x02, 0x01};
    assert_int_equal(sk_ledger_sku_for_epc(t.l, raw, 8, sku, sizeof(sku)), 0);
    assert_int_equal(sk_ledger_tag_put(t.l, raw, 8, "NOPE"), -ENOENT);
    assert_int_equal(sk_ledger_planogram_put(t.l, "Z9", "CHIPS", 1), -ENOENT);
    assert_int_equal(sk_ledger_planogram_put(t.l, "A1", "NOPE", 1), -ENOENT);

    /* Shelves from a new configuration: B1 and C1 gone (kept, inactive), D1 new. */
    struct sk_shelf_cfg next[2] = {{.name = "A1", .reader = "reader-a", .antenna = 2},
                                   {.name = "D1", .reader = "reader-d", .antenna = 1}};
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = next;
    cfg.n_shelves = 2;
    assert_int_equal(sk_ledger_sync_shelves(t.l, &cfg), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM shelves WHERE active"), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM shelves"), 4);
    assert_int_equal(lt_int(t.l, "SELECT antenna FROM shelves WHERE name = 'A1'"), 2);
    lt_teardown(&t);
}

static void test_stock_effects(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 10};
    struct sk_movement_result res;
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(res.id, 1);
    assert_int_equal(res.shelf_stock, 10);
    assert_int_equal(res.event_seq, 0);
    assert_int_equal(strlen(res.hash), 64);
    m = (struct sk_movement){.type = SK_MOVE_PICKUP,
                             .sku = "COLA-033",
                             .shelf = "A1",
                             .quantity = 2,
                             .session = "s-1"};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(res.shelf_stock, 8);
    m.type = SK_MOVE_PUT_BACK;
    m.quantity = 1;
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 9);
    m.type = SK_MOVE_SALE; /* no stock change */
    m.shelf = NULL;
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 9);
    m = (struct sk_movement){
            .type = SK_MOVE_ADJUSTMENT, .sku = "COLA-033", .shelf = "A1", .quantity = -3};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 6);
    m.type = SK_MOVE_SHRINK;
    m.quantity = 1;
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 5);
    m = (struct sk_movement){.type = SK_MOVE_MISPLACED,
                             .sku = "COLA-033",
                             .shelf = "A1",
                             .to_shelf = "B1",
                             .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 4);
    assert_int_equal(stock(&t, "B1", "COLA-033"), 1);
    assert_int_equal(stock(&t, "C1", "COLA-033"), 0);
    assert_int_equal(res.id, 7);

    /* Invalid movements change nothing. */
    struct sk_movement bad[] = {
            {.type = 0, .sku = "COLA-033", .shelf = "A1", .quantity = 1},
            {.type = SK_MOVE_PICKUP, .sku = "COLA-033", .shelf = "A1", .quantity = 0},
            {.type = SK_MOVE_ADJUSTMENT, .sku = "COLA-033", .shelf = "A1", .quantity = 0},
            {.type = SK_MOVE_PICKUP, .sku = "COLA-033", .quantity = 1},
            {.type = SK_MOVE_MISPLACED, .sku = "COLA-033", .shelf = "A1", .quantity = 1},
            {.type = SK_MOVE_PICKUP,
             .sku = "COLA-033",
             .shelf = "A1",
             .to_shelf = "B1",
             .quantity = 1},
            {.type = SK_MOVE_PICKUP, .shelf = "A1", .quantity = 1},
            {.type = SK_MOVE_PICKUP, .sku = "bad sku", .shelf = "A1", .quantity = 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sk_ledger_move(t.l, &bad[i], 0, NULL), -EINVAL);
    }
    m = (struct sk_movement){.type = SK_MOVE_PICKUP, .sku = "NOPE", .shelf = "A1", .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), -ENOENT);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "unknown sku \"NOPE\""));
    m.sku = "COLA-033";
    m.shelf = "Z9";
    assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), -ENOENT);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "unknown shelf \"Z9\""));
    uint8_t raw[8] = {0xe2, 0x80, 0x11, 0x60, 0x60, 0x00, 0x02, 0x01};
    m = (struct sk_movement){
            .type = SK_MOVE_PICKUP, .epc = raw, .epc_len = 8, .shelf = "A1", .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), -ENOENT);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "tag E280116060000201 maps to no product"));
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements"), 7);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 4);

    /* Listing: stock rows and the planned-but-empty slot of CHIPS on B1. */
    assert_int_equal(sk_ledger_stock(t.l, NULL, NULL, NULL, NULL), 3);
    assert_int_equal(sk_ledger_stock(t.l, "B1", NULL, NULL, NULL), 2);
    assert_int_equal(sk_ledger_stock(t.l, NULL, "CHIPS", NULL, NULL), 1);
    assert_int_equal(sk_ledger_verify(t.l, &(struct sk_verify_result){0}), 0);
    lt_teardown(&t);
}

struct events {
    char *payload[32];
    char topic[32][64];
    size_t n;
};

static int events_cb(const struct sk_outbox_row *row, void *ctx)
{
    struct events *e = ctx;
    assert_true(e->n < 32);
    snprintf(e->topic[e->n], sizeof(e->topic[0]), "%s", row->topic);
    e->payload[e->n++] = strdup(row->payload);
    return 0;
}

static void events_free(struct events *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->payload[i]);
    }
    e->n = 0;
}

static void test_events_and_low_stock(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    uint8_t epc[12];
    assert_int_equal(sk_epc_encode_sgtin96("00012345678905", 7, 42, 1, epc), 0);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "reads", 17);
    cJSON_AddNumberToObject(ev, "confidence", 0.75);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 5};
    struct sk_movement_result res;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, &res), 0);
    assert_int_equal(res.event_seq, 1);
    /* Picking two (5 -> 3) crosses the threshold 3: one low_stock event. */
    m = (struct sk_movement){.type = SK_MOVE_PICKUP,
                             .epc = epc,
                             .epc_len = 12,
                             .shelf = "A1",
                             .session = "s-9",
                             .quantity = 2,
                             .evidence = ev};
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, &res), 0);
    assert_int_equal(res.event_seq, 2);
    assert_string_equal(res.sku, "COLA-033");
    /* Below it already: no second one. */
    m.quantity = 1;
    assert_int_equal(sk_ledger_move(t.l, &m, 0, &res), 0);
    cJSON_Delete(ev);

    struct events e = {0};
    assert_int_equal(sk_ledger_outbox_pending(t.l, 0, 32, events_cb, &e), 3);
    assert_string_equal(e.topic[0], "event/movement");
    assert_string_equal(e.topic[1], "event/movement");
    assert_string_equal(e.topic[2], "event/low_stock");
    cJSON *p = cJSON_Parse(e.payload[1]);
    assert_string_equal(cJSON_GetObjectItem(p, "schema")->valuestring,
                        "storekeeper/v1/event/movement");
    assert_int_equal(cJSON_GetObjectItem(p, "movement_id")->valuedouble, 2);
    assert_string_equal(cJSON_GetObjectItem(p, "type")->valuestring, "pickup");
    assert_string_equal(cJSON_GetObjectItem(p, "sku")->valuestring, "COLA-033");
    assert_string_equal(cJSON_GetObjectItem(p, "shelf")->valuestring, "A1");
    assert_int_equal(cJSON_GetObjectItem(p, "shelf_stock")->valuedouble, 3);
    assert_string_equal(cJSON_GetObjectItem(p, "session_id")->valuestring, "s-9");
    char hex[32];
    sk_epc_to_hex(epc, 12, hex, sizeof(hex));
    assert_string_equal(cJSON_GetObjectItem(p, "epc")->valuestring, hex);
    assert_int_equal(strlen(cJSON_GetObjectItem(p, "epc")->valuestring), 24);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "evidence"), "reads")->valuedouble,
                     17);
    assert_int_equal(strlen(cJSON_GetObjectItem(p, "hash")->valuestring), 64);
    /* The movement row points at its event. */
    assert_int_equal(lt_int(t.l, "SELECT event_seq FROM movements WHERE id = 2"), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements WHERE event_seq IS NULL"), 1);
    cJSON_Delete(p);
    p = cJSON_Parse(e.payload[2]);
    assert_int_equal(cJSON_GetObjectItem(p, "stock")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItem(p, "threshold")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItem(p, "suggested_quantity")->valuedouble, 9);
    cJSON_Delete(p);
    events_free(&e);
    lt_teardown(&t);
}

static void test_atomic_movement_and_event(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 5};
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), 0);
    /* Fail between the movement row and its outbox row, alone and inside a batch. */
    ledger_test_fault(t.l, "event", 0, -EIO);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), -EIO);
    assert_int_equal(sk_ledger_depth(t.l), 0);
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), 0);
    ledger_test_fault(t.l, "event", 0, SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), SK_ELEDGER_FULL);
    assert_int_equal(sk_ledger_depth(t.l), 1); /* the batch goes on without it */
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements"), 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 2);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 10);
    /* Fail before the movement row: nothing either. */
    ledger_test_fault(t.l, "movement", 0, -EIO);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), -EIO);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements"), 2);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 10);
    /* Every movement has its event, seq gap-free, the chain holds. */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements m JOIN outbox o "
                                 "ON o.seq = m.event_seq"),
                     2);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) - min(seq) + 1 - count(*) FROM outbox"), 0);
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 2);
    lt_teardown(&t);
}

/* SK_MOVE_IN_BATCH: no savepoint of the move's own. A failure after the first write leaves
 * part of the movement in the caller's transaction, which then refuses to commit until it is
 * rolled back; a refusal before any write (unknown sku) leaves the batch committable. */
static void test_in_batch(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 5};
    unsigned f = SK_MOVE_EVENT | SK_MOVE_IN_BATCH;
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_move(t.l, &m, f, NULL), 0);
    struct sk_movement unknown = m;
    unknown.sku = "NOPE";
    assert_int_equal(sk_ledger_move(t.l, &unknown, f, NULL), -ENOENT);
    assert_int_equal(sk_ledger_commit(t.l), 0); /* nothing of it was written */
    assert_int_equal(stock(&t, "A1", "COLA-033"), 5);

    /* Fails between the stock, the row and its event: nothing may commit it. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_move(t.l, &m, f, NULL), 0);
    ledger_test_fault(t.l, "event", 0, -EIO);
    assert_int_equal(sk_ledger_move(t.l, &m, f, NULL), -EIO);
    assert_int_equal(sk_ledger_begin(t.l), 2); /* a savepoint inside does not clear it */
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(sk_ledger_commit(t.l), SK_ELEDGER);
    assert_int_equal(sk_ledger_depth(t.l), 1);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 5);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements"), 1);

    /* In a savepoint of the caller's: rolling that back is enough, the batch goes on. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_begin(t.l), 2);
    ledger_test_fault(t.l, "movement", 0, -EIO);
    assert_int_equal(sk_ledger_move(t.l, &m, f, NULL), -EIO);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(sk_ledger_move(t.l, &m, f, NULL), 0);
    assert_int_equal(sk_ledger_commit(t.l), 0);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 10);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox"), 2);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) - min(seq) + 1 - count(*) FROM outbox"), 0);
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 2);
    lt_teardown(&t);
}

/* What a movement caches of its product (it exists, its restock threshold) and of its shelves
 * follows the writes of this connection: a threshold raised between two movements applies to
 * the second, a shelf is known only once it exists. */
static void test_caches_follow_own_writes(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 10};
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), 0);
    m.type = SK_MOVE_PICKUP;
    m.quantity = 1;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), 0); /* 9 */
    struct sk_product p;
    assert_int_equal(sk_ledger_product_get(t.l, "COLA-033", &p), 1);
    p.restock_threshold = 8;
    assert_int_equal(sk_ledger_product_put(t.l, &p), 0);
    /* 9 -> 8 crosses the new threshold; with the cached 3 it would not. */
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = 'event/low_stock'"), 1);
    /* A shelf unknown, then made: refused, then accepted, in one transaction. */
    m.shelf = "D1";
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), -ENOENT);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "unknown shelf \"D1\""));
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sqlite3_exec(ledger_test_db(t.l),
                                  "INSERT INTO shelves (name, updated_us) VALUES ('D1', 1)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    m.type = SK_MOVE_RESTOCK;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), 0);
    m.sku = "NOPE";
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), -ENOENT);
    assert_non_null(strstr(sk_ledger_errmsg(t.l), "unknown sku \"NOPE\""));
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    lt_teardown(&t);
}

/* The chain head, the seq and the stock totals are cached between movements; another
 * connection's commit (PRAGMA data_version) and a rollback make the next movement read them
 * again: here, a total changed behind the ledger's back decides the low-stock event. */
static void test_caches_follow_the_file(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    struct sk_movement m = {
            .type = SK_MOVE_RESTOCK, .sku = "COLA-033", .shelf = "A1", .quantity = 10};
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), 0);
    m.type = SK_MOVE_PICKUP;
    m.quantity = 1;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), 0); /* 9 cached */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(t.path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other,
                                  "UPDATE stock SET quantity = 4 WHERE shelf = 'A1' AND "
                                  "sku = 'COLA-033'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    /* 4 -> 3 crosses the threshold (3); from the stale 9 it would not have. */
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, NULL), 0);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM outbox WHERE topic = 'event/low_stock'"), 1);
    assert_int_equal(stock(&t, "A1", "COLA-033"), 3);
    /* A rolled-back batch leaves neither its seq nor its head behind in memory. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL), 0);
    assert_int_equal(sk_ledger_rollback(t.l), 0);
    struct sk_movement_result res;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, &res), 0);
    assert_int_equal(res.id, 4);
    assert_int_equal(res.event_seq, 5);
    assert_int_equal(res.shelf_stock, 2);
    assert_int_equal(lt_int(t.l, "SELECT max(seq) - min(seq) + 1 - count(*) FROM outbox"), 0);
    /* (no sk_ledger_verify: the stock edited above no longer adds up, by design) */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM movements m JOIN movements p "
                                 "ON p.id = m.id - 1 WHERE m.prev_hash IS NOT p.hash"),
                     0);
    lt_teardown(&t);
}

static void test_chain_tamper(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    for (int i = 0; i < 20; i++) {
        struct sk_movement m = {.type = i % 2 ? SK_MOVE_PICKUP : SK_MOVE_RESTOCK,
                                .sku = "COLA-033",
                                .shelf = "A1",
                                .quantity = 1 + i % 3,
                                .session = i % 2 ? "s-1" : NULL};
        assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), 0);
    }
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 20);
    assert_int_equal(v.first_bad_id, 0);
    assert_int_equal(strlen(v.head), 64);
    sqlite3 *db = ledger_test_db(t.l);
    /* The triggers refuse edits through SQL... */
    assert_int_not_equal(
            sqlite3_exec(db, "UPDATE movements SET quantity = 9 WHERE id = 7", NULL, NULL, NULL),
            SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM movements WHERE id = 20", NULL, NULL, NULL),
                         SQLITE_OK);
    /* ...and someone who drops them is caught by the chain. */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER movements_append_only_update;"
                                  "DROP TRIGGER movements_append_only_delete;"
                                  "UPDATE movements SET quantity = 9 WHERE id = 7",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sk_ledger_verify(t.l, &v), SK_ELEDGER_CHAIN);
    assert_int_equal(v.first_bad_id, 7);
    assert_non_null(strstr(v.reason, "does not match its hash"));
    assert_int_equal(
            sqlite3_exec(db, "UPDATE movements SET quantity = 1 WHERE id = 7", NULL, NULL, NULL),
            SQLITE_OK);
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    /* A deleted row in the middle. */
    assert_int_equal(sqlite3_exec(db, "DELETE FROM movements WHERE id = 12", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sk_ledger_verify(t.l, &v), SK_ELEDGER_CHAIN);
    assert_int_equal(v.first_bad_id, 13);
    assert_non_null(strstr(v.reason, "rows are missing"));
    lt_teardown(&t);
}

struct mcollect {
    int64_t ids[64];
    size_t n;
};

static int mcb(const struct sk_movement_row *row, void *ctx)
{
    struct mcollect *c = ctx;
    c->ids[c->n++] = row->id;
    return 0;
}

static void test_filters_and_sessions(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    catalog(&t);
    assert_int_equal(sk_ledger_session_open(t.l, "s-1", 0, NULL), 0);
    assert_int_equal(sk_ledger_session_open(t.l, "s-1", 0, NULL), -EEXIST);
    for (int i = 0; i < 10; i++) {
        sk_clock_manual_advance(&t.clk, 1000000);
        struct sk_movement m = {.type = SK_MOVE_RESTOCK,
                                .sku = i < 5 ? "COLA-033" : "CHIPS",
                                .shelf = i < 5 ? "A1" : "B1",
                                .quantity = 1,
                                .session = i % 3 == 0 ? "s-1" : NULL};
        assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), 0);
    }
    assert_int_equal(sk_ledger_session_close(t.l, "s-1", 0, "checked_out"), 0);
    assert_int_equal(sk_ledger_session_close(t.l, "s-1", 0, "checked_out"), -ENOENT);
    assert_int_equal(sk_ledger_session_close(t.l, "s-2", 0, "Bad State"), -EINVAL);
    struct mcollect c = {0};
    struct sk_movement_filter f = {.session = "s-1"};
    assert_int_equal(sk_ledger_movements(t.l, &f, mcb, &c), 4);
    assert_int_equal(c.ids[3], 10);
    f = (struct sk_movement_filter){.sku = "CHIPS", .limit = 2};
    c.n = 0;
    assert_int_equal(sk_ledger_movements(t.l, &f, mcb, &c), 2);
    assert_int_equal(c.ids[0], 6);
    f = (struct sk_movement_filter){.since_us = 1700000000000000LL + 8000000};
    assert_int_equal(sk_ledger_movements(t.l, &f, NULL, NULL), 3);
    f = (struct sk_movement_filter){.shelf = "A1", .after_id = 3};
    assert_int_equal(sk_ledger_movements(t.l, &f, NULL, NULL), 2);
    assert_int_equal(sk_move_type_parse("put_back"), SK_MOVE_PUT_BACK);
    assert_int_equal(sk_move_type_parse("stolen"), -EINVAL);
    assert_null(sk_move_type_name(99));
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_catalog),
            cmocka_unit_test(test_stock_effects),
            cmocka_unit_test(test_events_and_low_stock),
            cmocka_unit_test(test_atomic_movement_and_event),
            cmocka_unit_test(test_in_batch),
            cmocka_unit_test(test_caches_follow_the_file),
            cmocka_unit_test(test_caches_follow_own_writes),
            cmocka_unit_test(test_chain_tamper),
            cmocka_unit_test(test_filters_and_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
