/* SPDX-License-Identifier: MIT */
/* The census: missing, unexpected and misplaced findings, no double reporting, changes and
 * resolutions, shelves left out, dry runs, and the events it writes. */
#include <cjson/cJSON.h>

#include "ledger_test.h"
#include "storekeeper/epc.h"

static struct sk_shelf_cfg shelves[3] = {
        {.name = "A1", .reader = "reader-a", .antenna = 1},
        {.name = "B1", .reader = "reader-b", .antenna = 1},
        {.name = "C1", .reader = "reader-c", .antenna = 0},
};

static struct sk_config cfg;

#define COLA  "00012345678905"
#define CHIPS "04006381333931"

static void setup(struct lt *t, struct sk_tagset **set)
{
    lt_setup(t);
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = shelves;
    cfg.n_shelves = 3;
    assert_int_equal(sk_ledger_sync_shelves(t->l, &cfg), 3);
    struct sk_product p = {
            .sku = "COLA", .gtin = COLA, .name = "Cola", .price_minor = 1, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t->l, &p), 0);
    struct sk_product q = {
            .sku = "CHIPS", .gtin = CHIPS, .name = "Chips", .price_minor = 1, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t->l, &q), 0);
    assert_int_equal(sk_ledger_planogram_put(t->l, "A1", "COLA", 10), 0);
    assert_int_equal(sk_ledger_planogram_put(t->l, "B1", "CHIPS", 10), 0);
    struct sk_movement m = {.type = SK_MOVE_RESTOCK, .sku = "COLA", .shelf = "A1", .quantity = 3};
    assert_int_equal(sk_ledger_move(t->l, &m, 0, NULL), 0);
    m.sku = "CHIPS";
    m.shelf = "B1";
    m.quantity = 2;
    assert_int_equal(sk_ledger_move(t->l, &m, 0, NULL), 0);
    assert_int_equal(sk_tagset_new(100000, set), 0);
}

static void tag(struct sk_tagset *set,
                bool add,
                const char *reader,
                int antenna,
                const char *gtin,
                uint64_t serial)
{
    uint8_t epc[12];
    assert_int_equal(sk_epc_encode_sgtin96(gtin, 7, serial, 1, epc), 0);
    struct sk_tag_key k;
    sk_tag_key_set(&k, reader, (uint8_t)antenna, epc, 12);
    if (add) {
        assert_true(sk_tagset_add(set, &k, 1) >= 0);
    } else {
        sk_tagset_remove(set, &k);
    }
}

struct seen {
    char lines[32][160];
    size_t n;
};

static int seen_cb(const struct sk_discrepancy *d, void *ctx)
{
    struct seen *s = ctx;
    assert_true(s->n < 32);
    snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %s %s %s q=%lld e=%lld s=%lld", d->state,
             d->kind, d->shelf, d->sku[0] ? d->sku : "-", (long long)d->quantity,
             (long long)d->expected, (long long)d->seen);
    return 0;
}

static void has(const struct seen *s, const char *line)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->lines[i], line) == 0) {
            return;
        }
    }
    fprintf(stderr, "missing \"%s\" in:\n", line);
    for (size_t i = 0; i < s->n; i++) {
        fprintf(stderr, "  %s\n", s->lines[i]);
    }
    fail();
}

static int64_t events(struct lt *t)
{
    return lt_int(t->l, "SELECT count(*) FROM outbox WHERE topic = 'event/discrepancy'");
}

static void test_findings_and_no_double_reporting(void **state)
{
    (void)state;
    struct lt t;
    struct sk_tagset *set;
    setup(&t, &set);
    /* A1 holds 2 of 3 colas and a bag of chips; B1 both chips; C1 an unknown tag; a tag at
     * an antenna of no shelf. */
    tag(set, true, "reader-a", 1, COLA, 1);
    tag(set, true, "reader-a", 1, COLA, 2);
    tag(set, true, "reader-a", 1, CHIPS, 9);
    tag(set, true, "reader-b", 1, CHIPS, 1);
    tag(set, true, "reader-b", 1, CHIPS, 2);
    tag(set, true, "reader-a", 2, COLA, 77);
    uint8_t raw[8] = {0xe2, 0x80, 0x11, 0x60, 0x60, 0x00, 0x02, 0x01};
    struct sk_tag_key k;
    sk_tag_key_set(&k, "reader-c", 3, raw, sizeof(raw));
    assert_int_equal(sk_tagset_add(set, &k, 1), 1);

    struct seen s = {0};
    struct sk_census_opts watch = {.seen = seen_cb, .seen_ctx = &s};
    struct sk_census_result res;
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &watch, &res), 0);
    assert_int_equal(res.shelves, 3);
    assert_int_equal(res.tags, 6);
    assert_int_equal(res.tags_elsewhere, 1);
    assert_int_equal(res.unknown_tags, 1);
    assert_int_equal(res.opened, 3);
    assert_int_equal(s.n, 3);
    has(&s, "open missing A1 COLA q=1 e=3 s=2");
    has(&s, "open misplaced A1 CHIPS q=1 e=0 s=1");
    has(&s, "open unexpected C1 - q=1 e=0 s=1");
    assert_int_equal(events(&t), 3);

    /* The misplaced event lists the tag and where the sku belongs. */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(ledger_test_db(t.l),
                                        "SELECT payload FROM outbox WHERE payload LIKE "
                                        "'%\"misplaced\"%'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    cJSON *p = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_string_equal(cJSON_GetObjectItem(p, "state")->valuestring, "open");
    assert_string_equal(cJSON_GetObjectItem(p, "shelf")->valuestring, "A1");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "epcs")), 1);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "home_shelves"), 0)->valuestring,
                        "B1");
    cJSON_Delete(p);

    /* Same picture again: nothing new, no events. */
    s.n = 0;
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &watch, &res), 0);
    assert_int_equal(res.opened + res.changed + res.resolved, 0);
    assert_int_equal(res.open, 3);
    assert_int_equal(events(&t), 3);
    has(&s, "unchanged missing A1 COLA q=1 e=3 s=2");
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM discrepancies"), 3);

    /* One more cola gone: the same discrepancy changes. */
    tag(set, false, "reader-a", 1, COLA, 2);
    s.n = 0;
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &watch, &res), 0);
    assert_int_equal(res.changed, 1);
    has(&s, "changed missing A1 COLA q=2 e=3 s=1");
    assert_int_equal(events(&t), 4);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM discrepancies"), 3);

    /* Chips back on B1 (now 3 there: one unexpected), colas back: misplaced and missing
     * resolve, the unknown tag leaves. */
    tag(set, false, "reader-a", 1, CHIPS, 9);
    tag(set, true, "reader-b", 1, CHIPS, 9);
    tag(set, true, "reader-a", 1, COLA, 2);
    tag(set, true, "reader-a", 1, COLA, 3);
    sk_tagset_remove(set, &k);
    s.n = 0;
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &watch, &res), 0);
    assert_int_equal(res.resolved, 3);
    assert_int_equal(res.opened, 1);
    has(&s, "resolved missing A1 COLA q=2 e=3 s=1");
    has(&s, "resolved misplaced A1 CHIPS q=1 e=0 s=1");
    has(&s, "resolved unexpected C1 - q=1 e=0 s=1");
    has(&s, "open unexpected B1 CHIPS q=1 e=2 s=3");
    assert_int_equal(events(&t), 8);
    assert_int_equal(sk_ledger_discrepancies(t.l, false, NULL, NULL), 1);
    assert_int_equal(sk_ledger_discrepancies(t.l, true, NULL, NULL), 4);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM census"), 4);
    /* Every discrepancy row points at its latest event. */
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM discrepancies d JOIN outbox o ON "
                                 "o.seq = d.event_seq"),
                     4);
    sk_tagset_free(set);
    lt_teardown(&t);
}

static bool only_b1(const struct sk_shelf_cfg *sh, void *ctx)
{
    (void)ctx;
    return strcmp(sh->name, "B1") == 0;
}

static void test_skipped_shelves_and_dry_run(void **state)
{
    (void)state;
    struct lt t;
    struct sk_tagset *set;
    setup(&t, &set);
    /* Nothing seen anywhere: missing on A1 and B1. */
    struct sk_census_result res;
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, NULL, &res), 0);
    assert_int_equal(res.opened, 2);
    /* A1's reader is down now: its finding stays open, untouched; B1's resolves. */
    tag(set, true, "reader-b", 1, CHIPS, 1);
    tag(set, true, "reader-b", 1, CHIPS, 2);
    struct sk_census_opts o = {.usable = only_b1};
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &o, &res), 0);
    assert_int_equal(res.shelves, 1);
    assert_int_equal(res.shelves_skipped, 2);
    assert_int_equal(res.resolved, 1);
    assert_int_equal(sk_ledger_discrepancies(t.l, false, NULL, NULL), 1);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM discrepancies WHERE shelf = 'A1' AND "
                                 "resolved_us IS NULL"),
                     1);
    /* A dry run reports but writes nothing. */
    int64_t ev = events(&t), cs = lt_int(t.l, "SELECT count(*) FROM census");
    tag(set, true, "reader-a", 1, COLA, 1);
    tag(set, true, "reader-a", 1, COLA, 2);
    tag(set, true, "reader-a", 1, COLA, 3);
    struct seen s = {0};
    o = (struct sk_census_opts){.seen = seen_cb, .seen_ctx = &s, .dry_run = true};
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, &o, &res), 0);
    has(&s, "resolved missing A1 COLA q=3 e=3 s=0");
    assert_int_equal(events(&t), ev);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM census"), cs);
    assert_int_equal(sk_ledger_discrepancies(t.l, false, NULL, NULL), 1);
    /* Movements the census trusts: after a pickup of the 3rd cola, 2 seen is right. */
    tag(set, false, "reader-a", 1, COLA, 3);
    struct sk_movement m = {.type = SK_MOVE_PICKUP, .sku = "COLA", .shelf = "A1", .quantity = 1};
    assert_int_equal(sk_ledger_move(t.l, &m, 0, NULL), 0);
    assert_int_equal(sk_ledger_census(t.l, &cfg, set, NULL, &res), 0);
    assert_int_equal(res.open, 0);
    assert_int_equal(sk_ledger_discrepancies(t.l, false, NULL, NULL), 0);
    sk_tagset_free(set);
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_findings_and_no_double_reporting),
            cmocka_unit_test(test_skipped_shelves_and_dry_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
