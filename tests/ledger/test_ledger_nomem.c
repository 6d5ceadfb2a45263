/* SPDX-License-Identifier: MIT */
/*
 * Allocation failures, SQLite-style: a sequence of ledger work (open, a movement with its
 * event, a presence row, an event, commit, the outbox read back) runs again and again, the
 * n-th allocation of SQLite and cJSON failing in run n, until a run passes without reaching
 * the failure. Every run must end in success or a clean error, never a crash or leak
 * (ASan), and the file must afterwards hold either all of the run's rows or none of them.
 */
#include <cjson/cJSON.h>

#include "ledger_test.h"

static sqlite3_mem_methods real;
static long fail_at = -1; /* allocation number that fails; -1: none */
static long allocs;
static bool failed;
static long fail_at_dbg;

static bool due(void)
{
    if (fail_at >= 0 && allocs++ == fail_at) {
        failed = true;
        return true;
    }
    return false;
}

static void *x_malloc(int n)
{
    return due() ? NULL : real.xMalloc(n);
}

static void *x_realloc(void *p, int n)
{
    return due() ? NULL : real.xRealloc(p, n);
}

static void *j_malloc(size_t n)
{
    return due() ? NULL : malloc(n);
}

/* Copies the base ledger to work: every run starts from the same file. */
static void fresh_copy(const char *base, const char *work)
{
    size_t n;
    unsigned char *b = lt_slurp(base, &n);
    FILE *f = fopen(work, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
    char side[300];
    snprintf(side, sizeof(side), "%s-wal", work);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", work);
    unlink(side);
}

/* The work of one run; allocation failures armed from the start (open) or after it. */
static int run_once(const char *path, bool arm_after_open)
{
    struct sk_ledger_opts o = {
            .path = path, .store_id = "store-1", .device_id = "dev-1", .flags = SK_LEDGER_OWNER};
    struct sk_ledger *l = NULL;
    long armed = fail_at;
    if (arm_after_open) {
        fail_at = -1;
    }
    int r = sk_ledger_open(&o, NULL, 0, &l);
    fail_at = armed;
    allocs = 0;
    if (r < 0) {
        return r;
    }
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "what", "nomem");
    }
    if ((r = sk_ledger_begin(l)) >= 0) {
        struct sk_movement m = {.type = SK_MOVE_RESTOCK,
                                .sku = "SKU-1",
                                .shelf = "A1",
                                .quantity = 1,
                                .evidence = f};
        r = sk_ledger_move(l, &m, SK_MOVE_EVENT, NULL);
        struct sk_tag_key k;
        uint8_t epc[12] = {0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        sk_tag_key_set(&k, "reader-a", 1, epc, sizeof(epc));
        if (r == 0) {
            r = sk_ledger_present_add(l, &k, 1);
        }
        if (r >= 0) {
            r = sk_ledger_event(l, "event/nomem", NULL, f, 0, NULL);
        }
        if (r >= 0) {
            r = sk_ledger_commit(l);
        } else {
            sk_ledger_rollback(l);
        }
    }
    cJSON_Delete(f);
    if (r >= 0) {
        struct sk_outbox_stats st;
        r = sk_ledger_outbox_stats(l, &st);
    }
    sk_ledger_close(l);
    return r < 0 ? r : 0;
}

/* After a run: the file opens, is sound, and holds all of the run or none of it. */
static void check_all_or_nothing(const char *path)
{
    fail_at = -1;
    struct sk_ledger_opts o = {.path = path};
    struct sk_ledger *l;
    assert_int_equal(sk_ledger_open(&o, NULL, 0, &l), 0);
    lt_assert_integrity(l);
    int64_t m = lt_int(l, "SELECT count(*) FROM movements");
    if (lt_int(l, "SELECT count(*) FROM outbox") != 2 * m || sk_ledger_present_count(l) != m) {
        fprintf(stderr, "allocation %ld failed: %lld movement(s), %lld event(s), %lld present\n",
                fail_at_dbg, (long long)m, (long long)lt_int(l, "SELECT count(*) FROM outbox"),
                (long long)sk_ledger_present_count(l));
    }
    assert_true(m == 0 || m == 1);
    assert_int_equal(lt_int(l, "SELECT count(*) FROM outbox"), 2 * m);
    assert_int_equal(sk_ledger_present_count(l), m);
    struct sk_verify_result v;
    int r = sk_ledger_verify(l, &v);
    if (r != 0) {
        fprintf(stderr, "allocation %ld failed: verify: %s: %s\n", fail_at_dbg, v.check, v.reason);
    }
    assert_int_equal(r, 0);
    sk_ledger_close(l);
}

static void sweep(const char *base, const char *work, bool arm_after_open, const char *what)
{
    long n;
    int errors = 0;
    for (n = 0; n < 100000; n++) {
        fresh_copy(base, work);
        allocs = 0;
        failed = false;
        fail_at = n;
        fail_at_dbg = n;
        int r = run_once(work, arm_after_open);

        fail_at = -1;
        if (!failed) {
            assert_int_equal(r, 0); /* ran past the last allocation: must succeed */
            break;
        }
        errors += r < 0;
        check_all_or_nothing(work);
    }
    printf("%s: allocation failures at %ld points, %d reported as errors, the rest absorbed\n",
           what, n, errors);
    assert_true(n > 20);
    assert_true(errors > 0);
}

static void test_every_allocation_fails_once(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    static struct sk_shelf_cfg shelves[1] = {{.name = "A1", .reader = "reader-a", .antenna = 1}};
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = shelves;
    cfg.n_shelves = 1;
    assert_int_equal(sk_ledger_sync_shelves(t.l, &cfg), 1);
    struct sk_product p = {.sku = "SKU-1", .name = "one", .price_minor = 1, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t.l, &p), 0);
    sk_ledger_close(t.l); /* checkpointed into the file: the copy is complete */
    t.l = NULL;
    char work[256];
    snprintf(work, sizeof(work), "%s/work.db", t.dir);
    sweep(t.path, work, false, "open and write");
    sweep(t.path, work, true, "write");
    lt_teardown(&t);
}

int main(void)
{
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real);
    sqlite3_mem_methods mine = real;
    mine.xMalloc = x_malloc;
    mine.xRealloc = x_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mine) != SQLITE_OK) {
        fprintf(stderr, "cannot install the allocator\n");
        return 1;
    }
    cJSON_Hooks hooks = {.malloc_fn = j_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
