/* SPDX-License-Identifier: MIT */
/*
 * The runtime and its ledger, driven by a test service that feeds tag arrivals through the
 * real queue: presence is durable across restarts and loaded before services start;
 * observations share transactions; a full ledger (ledger.max_size_mb, and a real full file
 * system: a small tmpfs, when we may mount one) turns the runtime degraded without losing
 * an observation, and writing resumes when space returns.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "ledger_test.h"
#include "storekeeper/loop.h"
#include "storekeeper/queue.h"
#include "storekeeper/runtime.h"

struct feeder {
    struct sk_runtime *rt;
    int total;   /* arrivals to push */
    int pushed;  /* accepted by the queue */
    int refused; /* pushes the queue refused (back-pressure) */
    int seeded;  /* tags in the core's present set when the service started */
    bool saw_full;
    int degraded_err; /* what sk_runtime_ledger_error said while full */
    bool made_room;
    int64_t full_since_us;
    const char *tmpfs; /* remount this larger to make room, or NULL: lift max_page_count */
    int64_t done_at_us;
    uint64_t commits; /* transactions it took */
};

static struct feeder feed;

static void make_obs(struct sk_obs *o, int n)
{
    memset(o, 0, sizeof(*o));
    o->type = SK_OBS_TAG_ARRIVED;
    o->wall_us = 1700000000000000LL + n;
    o->mono_us = n;
    sk_obs_set_source(o, "reader-a");
    o->u.tag.antenna = 1;
    o->u.tag.epc_len = 12;
    o->u.tag.epc[0] = 0x30;
    o->u.tag.epc[8] = (uint8_t)(n >> 24);
    o->u.tag.epc[9] = (uint8_t)(n >> 16);
    o->u.tag.epc[10] = (uint8_t)(n >> 8);
    o->u.tag.epc[11] = (uint8_t)n;
}

static void on_feed(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)expirations;
    struct feeder *f = ctx;
    struct sk_ledger *l = sk_runtime_ledger(f->rt);
    for (int i = 0; i < 400 && f->pushed < f->total; i++) {
        struct sk_obs o;
        make_obs(&o, f->pushed);
        if (sk_queue_push(sk_runtime_queue(f->rt), &o, SK_QUEUE_ANY, 0) < 0) {
            f->refused++;
            break;
        }
        f->pushed++;
    }
    int64_t now = sk_now_mono_us();
    if (sk_ledger_is_full(l) && !f->saw_full) {
        f->saw_full = true;
        f->full_since_us = now;
    }
    if (sk_runtime_ledger_error(f->rt) != 0) {
        f->degraded_err = sk_runtime_ledger_error(f->rt);
    }
    /* Stay full for a while (the queue fills, pushes are refused), then make room. */
    if (f->saw_full && !f->made_room && now - f->full_since_us > 700000) {
        f->made_room = true;
        if (f->tmpfs) {
            assert_int_equal(mount("tmpfs", f->tmpfs, "tmpfs", MS_REMOUNT, "size=64m"), 0);
        } else {
            assert_int_equal(sk_ledger_set_max_size(l, 0), 0);
        }
    }
    if (f->pushed == f->total && sk_ledger_present_count(l) == f->total && !f->done_at_us) {
        f->done_at_us = now;
        f->commits = sk_ledger_commits(l);
        assert_int_equal(sk_runtime_ledger_error(f->rt), 0); /* writable again */
        sk_loop_stop(loop);
    }
}

static int feeder_start(struct sk_runtime *rt, void **ret_state)
{
    feed.rt = rt;
    feed.seeded = (int)sk_tagset_count(sk_core_present(sk_runtime_core(rt)));
    *ret_state = &feed;
    return sk_loop_timer_add(sk_runtime_loop(rt), 2, 2, on_feed, &feed, NULL);
}

static void feeder_stop(void *state)
{
    (void)state;
}

static const struct sk_service feeder = {
        .name = "feeder", .start = feeder_start, .stop = feeder_stop};
static const struct sk_service *const services[] = {&feeder, NULL};

static void write_cfg(const char *dir, const char *ledger_dir, int max_mb, char *path, size_t size)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "store_id = \"s\"; device_id = \"d\"; board = \"sim\";\n"
             "log = { level = \"err\"; };\n"
             "core = { queue_capacity = 2048; status_interval_s = 0; };\n"
             "mqtt = { enabled = false; };\n"
             "ledger = { path = \"%s/ledger.db\"; max_size_mb = %d; batch_max = 64; "
             "batch_delay_ms = 5; };\n",
             ledger_dir, max_mb);
    sk_test_write(dir, "store.cfg", text, path, size);
}

static int run_runtime(const char *cfg, double duration_s)
{
    struct sk_runtime_opts o = {.config_path = cfg, .duration_s = duration_s, .services = services};
    return sk_runtime_main(&o);
}

static int64_t count_present(const char *ledger_dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/ledger.db", ledger_dir);
    struct sk_ledger_opts o = {.path = path};
    struct sk_ledger *l;
    assert_int_equal(sk_ledger_open(&o, NULL, 0, &l), 0);
    lt_assert_integrity(l);
    int64_t n = sk_ledger_present_count(l);
    sk_ledger_close(l);
    return n;
}

static void test_presence_survives_restart(void **state)
{
    (void)state;
    char dir[128], cfg[256];
    sk_test_tmpdir(dir, sizeof(dir));
    write_cfg(dir, dir, 0, cfg, sizeof(cfg));
    memset(&feed, 0, sizeof(feed));
    feed.total = 3000;
    assert_int_equal(run_runtime(cfg, 20), 0);
    assert_int_equal(feed.pushed, 3000);
    assert_true(feed.done_at_us > 0);
    /* Observations that arrive together share transactions (batch_max 64). */
    printf("3000 arrivals in %llu transactions\n", (unsigned long long)feed.commits);
    assert_true(feed.commits > 0 && feed.commits < 3000 / 8);
    assert_int_equal(count_present(dir), 3000);
    /* Restart: the core holds the 3000 before any service starts; 1000 more arrive. */
    memset(&feed, 0, sizeof(feed));
    feed.total = 4000;
    assert_int_equal(run_runtime(cfg, 20), 0);
    assert_int_equal(feed.seeded, 3000);
    assert_int_equal(count_present(dir), 4000);
    sk_test_rmdir(dir);
}

static void run_until_full_and_back(const char *dir, const char *ledger_dir, int max_mb)
{
    char cfg[256];
    write_cfg(dir, ledger_dir, max_mb, cfg, sizeof(cfg));
    memset(&feed, 0, sizeof(feed));
    feed.total = 60000;
    feed.tmpfs = max_mb ? NULL : ledger_dir;
    assert_int_equal(run_runtime(cfg, 60), 0);
    assert_true(feed.saw_full);    /* it did fill up */
    assert_true(feed.made_room);   /* and came back */
    assert_true(feed.refused > 0); /* the queue pushed back while degraded */
    assert_true(feed.degraded_err == SK_ELEDGER_FULL || feed.degraded_err == -EIO);
    assert_true(feed.done_at_us > 0);
    /* Nothing observed was lost. */
    assert_int_equal(count_present(ledger_dir), 60000);
}

static void test_full_by_max_size(void **state)
{
    (void)state;
    char dir[128];
    sk_test_tmpdir(dir, sizeof(dir));
    run_until_full_and_back(dir, dir, 1);
    sk_test_rmdir(dir);
}

static void test_full_file_system(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        /* Mounting needs root: the max_page_count test above covers the logic. */
        printf("not root: the tmpfs variant cannot mount and is not run\n");
        return;
    }
    char dir[128], mnt[192];
    sk_test_tmpdir(dir, sizeof(dir));
    snprintf(mnt, sizeof(mnt), "%s/small", dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    int r = mount("tmpfs", mnt, "tmpfs", 0, "size=1m");
    if (r < 0) {
        fprintf(stderr, "mount tmpfs: %s\n", strerror(errno));
    }
    assert_int_equal(r, 0);
    run_until_full_and_back(dir, mnt, 0);
    umount2(mnt, MNT_DETACH);
    sk_test_rmdir(dir);
}

int main(void)
{
    sk_block_signals();
    setenv("STOREKEEPER_DATADIR", SK_TEST_DATADIR, 1); /* the sim board profile */
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_presence_survives_restart),
            cmocka_unit_test(test_full_by_max_size),
            cmocka_unit_test(test_full_file_system),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
