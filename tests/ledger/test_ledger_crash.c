/* SPDX-License-Identifier: MIT */
/*
 * Crash test: a writer process appends movements with their events and presence rows in
 * batches and is killed with SIGKILL at a random moment, 50 times over the same file. After
 * every kill: integrity_check is "ok", seq has no gap, every movement has its event and every
 * movement event its movement, the stock equals the sum of the movements, the presence rows
 * match, the chain verifies, and everything the writer reported as committed is there.
 * SK_CRASH_SEED=N repeats a run; SK_CRASH_ROUNDS=N changes the number of kills.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "ledger_test.h"
#include "storekeeper/epc.h"

static void setup_catalog(const char *path)
{
    struct sk_ledger_opts o = {.path = path,
                               .store_id = "s",
                               .device_id = "d",
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE};
    struct sk_ledger *l;
    assert_int_equal(sk_ledger_open(&o, NULL, 0, &l), 0);
    static struct sk_shelf_cfg shelves[2] = {{.name = "A1", .reader = "ra", .antenna = 1},
                                             {.name = "B1", .reader = "rb", .antenna = 1}};
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = shelves;
    cfg.n_shelves = 2;
    assert_int_equal(sk_ledger_sync_shelves(l, &cfg), 2);
    struct sk_product p = {.sku = "SKU-1",
                           .name = "one",
                           .price_minor = 100,
                           .currency = "EUR",
                           .restock_threshold = 5,
                           .restock_target = 50};
    assert_int_equal(sk_ledger_product_put(l, &p), 0);
    sk_ledger_close(l);
}

/* The child: write forever, report each committed last movement id on fd. */
static void writer(const char *path, int fd, unsigned seed)
{
    struct sk_ledger_opts o = {
            .path = path, .store_id = "s", .device_id = "d", .flags = SK_LEDGER_OWNER};
    struct sk_ledger *l;
    if (sk_ledger_open(&o, NULL, 0, &l) < 0) {
        _exit(3);
    }
    srand(seed);
    char ready = 'R';
    if (write(fd, &ready, 1) != 1) {
        _exit(4);
    }
    for (;;) {
        int n = 1 + rand() % 20;
        if (sk_ledger_begin(l) < 0) {
            _exit(5);
        }
        int64_t last = 0;
        for (int i = 0; i < n; i++) {
            int t = rand() % 4;
            struct sk_movement m = {.sku = "SKU-1", .quantity = 1 + rand() % 3};
            if (t == 0) {
                m.type = SK_MOVE_RESTOCK;
                m.shelf = "A1";
            } else if (t == 1) {
                m.type = SK_MOVE_PICKUP;
                m.shelf = "A1";
                m.session = "s-1";
            } else if (t == 2) {
                m.type = SK_MOVE_MISPLACED;
                m.shelf = "A1";
                m.to_shelf = "B1";
            } else {
                m.type = SK_MOVE_ADJUSTMENT;
                m.shelf = "B1";
                m.quantity = rand() % 2 ? 2 : -1;
            }
            struct sk_movement_result res;
            if (sk_ledger_move(l, &m, SK_MOVE_EVENT, &res) < 0) {
                _exit(6);
            }
            /* The presence row of "the tag" of this movement, in the same transaction. */
            struct sk_tag_key k;
            uint8_t epc[12] = {0x30};
            for (int b = 0; b < 8; b++) {
                epc[4 + b] = (uint8_t)(res.id >> (56 - 8 * b));
            }
            sk_tag_key_set(&k, "ra", 1, epc, sizeof(epc));
            if (sk_ledger_present_add(l, &k, res.id) != 1) {
                _exit(7);
            }
            last = res.id;
        }
        if (sk_ledger_commit(l) < 0) {
            _exit(8);
        }
        if (rand() % 3 == 0) {
            /* A delivery mark outside a transaction (synchronous=NORMAL). */
            struct sk_outbox_stats st;
            if (sk_ledger_outbox_stats(l, &st) == 0 && st.first_pending_seq) {
                sk_ledger_outbox_delivered(l, st.first_pending_seq, 0);
            }
        }
        if (write(fd, &last, sizeof(last)) != sizeof(last)) {
            _exit(9);
        }
    }
}

static int64_t read_reports(int fd, int64_t last)
{
    int64_t v;
    while (read(fd, &v, sizeof(v)) == sizeof(v)) {
        last = v;
    }
    return last;
}

static void check(const char *path, int64_t reported, int round)
{
    struct sk_ledger_opts o = {
            .path = path, .store_id = "s", .device_id = "d", .flags = SK_LEDGER_OWNER};
    struct sk_ledger *l;
    char msg[512];
    int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
    if (r < 0) {
        fprintf(stderr, "round %d: %s\n", round, msg);
    }
    assert_int_equal(r, 0);
    lt_assert_integrity(l);
    int64_t moves = lt_int(l, "SELECT count(*) FROM movements");
    assert_true(lt_int(l, "SELECT coalesce(max(id), 0) FROM movements") >= reported);
    assert_int_equal(lt_int(l, "SELECT coalesce(max(id), 0) FROM movements"), moves);
    /* seq: 1..N without a gap. */
    assert_int_equal(lt_int(l, "SELECT count(*) FROM outbox"),
                     lt_int(l, "SELECT coalesce(max(seq), 0) FROM outbox"));
    /* Every movement has its event, every movement event its movement. */
    assert_int_equal(lt_int(l, "SELECT count(*) FROM movements WHERE event_seq IS NULL OR "
                               "event_seq NOT IN (SELECT seq FROM outbox)"),
                     0);
    assert_int_equal(lt_int(l, "SELECT count(*) FROM outbox WHERE topic = 'event/movement' "
                               "AND seq NOT IN (SELECT event_seq FROM movements)"),
                     0);
    assert_int_equal(lt_int(l, "SELECT count(*) FROM outbox WHERE topic = 'event/movement'"),
                     moves);
    assert_int_equal(lt_int(l, "SELECT count(*) FROM outbox o JOIN movements m ON "
                               "m.event_seq = o.seq WHERE json_extract(o.payload, "
                               "'$.movement_id') = m.id AND json_extract(o.payload, '$.seq') "
                               "= o.seq"),
                     moves);
    /* Stock is the sum of the movements; presence rows came with them. */
    assert_int_equal(lt_int(l, "SELECT coalesce(sum(quantity), 0) FROM stock"),
                     lt_int(l, "SELECT coalesce(sum(CASE type WHEN 'restock' THEN quantity "
                               "WHEN 'adjustment' THEN quantity WHEN 'pickup' THEN -quantity "
                               "ELSE 0 END), 0) FROM movements"));
    assert_int_equal(lt_int(l, "SELECT coalesce((SELECT quantity FROM stock "
                               "WHERE shelf = 'B1'), 0)"),
                     lt_int(l, "SELECT coalesce(sum(CASE type WHEN 'misplaced' THEN quantity "
                               "WHEN 'adjustment' THEN quantity ELSE 0 END), 0) FROM movements "
                               "WHERE coalesce(to_shelf, shelf) = 'B1'"));
    assert_int_equal(sk_ledger_present_count(l), moves);
    struct sk_verify_result v;
    r = sk_ledger_verify(l, &v);
    if (r < 0) {
        fprintf(stderr, "round %d: chain broken at %lld: %s\n", round, (long long)v.first_bad_id,
                v.reason);
    }
    assert_int_equal(r, 0);
    assert_int_equal(v.movements, moves);
    sk_ledger_close(l);
}

static void test_sigkill_writer(void **state)
{
    (void)state;
    const char *env = getenv("SK_CRASH_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    env = getenv("SK_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 50;
    printf("crash test: seed %u (SK_CRASH_SEED=%u repeats it), %d rounds\n", seed, seed, rounds);
    srand(seed);
    char dir[128], path[192];
    sk_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ledger.db", dir);
    setup_catalog(path);
    int64_t reported = 0;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        unsigned child_seed = (unsigned)rand();
        /* SK_TIME_SCALE (4 under qemu-user, tests/CMakeLists.txt) stretches the delay so
         * an emulated writer still commits between kills. */
        const char *scale_env = getenv("SK_TIME_SCALE");
        int scale = scale_env && atoi(scale_env) > 0 ? atoi(scale_env) : 1;
        int delay_us = (1000 + rand() % 40000) * scale;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            writer(path, p[1], child_seed);
        }
        close(p[1]);
        char ready = 0;
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        assert_int_equal(poll(&pf, 1, 10000), 1);
        assert_int_equal(read(p[0], &ready, 1), 1);
        assert_int_equal(ready, 'R');
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status)) {
            fprintf(stderr, "writer exited by itself: status %d\n", WEXITSTATUS(status));
        }
        assert_true(WIFSIGNALED(status));
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        reported = read_reports(p[0], reported);
        close(p[0]);
        check(path, reported, round);
    }
    printf("crash test: %d kills, last committed movement %lld\n", rounds, (long long)reported);
    assert_true(reported > rounds); /* the writer made progress between kills */
    sk_test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sigkill_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
