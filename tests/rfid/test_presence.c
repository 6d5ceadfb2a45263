/* SPDX-License-Identifier: MIT */
/* Presence filter tests: k-of-n arrivals, hold-time departures, seeding, outages, per-antenna
 * settings, the bound, and the flicker test (1,000 polls at 80 % read probability on a static
 * shelf: no departure). Randomised parts print their seed and take SK_TEST_SEED. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/presence.h"

#define POLL_US 200000 /* 200 ms polls */

struct events {
    int arrived, departed;
    struct sk_presence_event last;
};

static void count(const struct sk_presence_event *ev, void *ctx)
{
    struct events *e = ctx;
    if (ev->type == SK_PRESENCE_ARRIVED) {
        e->arrived++;
    } else {
        e->departed++;
    }
    e->last = *ev;
}

static struct sk_tag_read tag(int i, int antenna)
{
    struct sk_tag_read t;
    memset(&t, 0, sizeof(t));
    t.antenna = (uint8_t)antenna;
    t.epc_len = 12;
    t.epc[0] = 0x30;
    t.epc[10] = (uint8_t)(i >> 8);
    t.epc[11] = (uint8_t)i;
    t.rssi_cdbm = (int16_t)(-6000 - i);
    t.reads = 1;
    return t;
}

static unsigned seed_from_env(unsigned def)
{
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : def;
    print_message("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    return seed;
}

static const struct sk_presence_params standard = {2, 3, 3000000};

static void test_k_of_n_arrival(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    struct events e = {0};
    struct sk_tag_read t = tag(1, 1);
    int64_t now = 0;
    /* seen once, then missed three times: never arrives, and is forgotten once the read
     * has left the window of 3 polls */
    sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    struct sk_presence_stats st;
    sk_presence_get_stats(p, &st);
    assert_int_equal(st.candidates, 1);
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    sk_presence_get_stats(p, &st);
    assert_int_equal(e.arrived, 0);
    assert_int_equal(st.candidates, 0);
    /* seen, missed, seen: 2 of the last 3 -> arrives on the third poll, once */
    sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    assert_int_equal(e.arrived, 0);
    sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    assert_int_equal(e.arrived, 1);
    assert_int_equal(e.last.antenna, 1);
    assert_int_equal(e.last.reads, 2);
    assert_int_equal(e.last.rssi_cdbm, -6001);
    assert_memory_equal(e.last.epc, t.epc, 12);
    for (int i = 0; i < 10; i++) {
        sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    }
    assert_int_equal(e.arrived, 1);
    assert_int_equal(e.departed, 0);
    sk_presence_free(p);
}

static void test_hold_departure(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    struct events e = {0};
    struct sk_tag_read t = tag(7, 2);
    int64_t now = 0;
    for (int i = 0; i < 3; i++) {
        sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    }
    assert_int_equal(e.arrived, 1);
    int64_t last_seen = now;
    /* unseen: departs at the first poll at least hold_us after it was last seen */
    while (e.departed == 0) {
        sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
        assert_true(now - last_seen <= standard.hold_us);
    }
    assert_int_equal(now - last_seen, standard.hold_us);
    assert_int_equal(e.departed, 1);
    assert_int_equal(e.last.antenna, 2);
    assert_true(e.last.last_seen_us == last_seen);
    /* the removal interval ends at the first poll that missed it */
    assert_true(e.last.first_missed_us == last_seen + POLL_US);
    /* once only */
    for (int i = 0; i < 50; i++) {
        sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    }
    assert_int_equal(e.departed, 1);
    struct sk_presence_stats st;
    sk_presence_get_stats(p, &st);
    assert_int_equal(st.present + st.candidates, 0);
    sk_presence_free(p);
}

/* An outage (polls that fail are not fed in): the interval a tag left in ends at the first
 * successful poll after it that missed the tag, and a miss before the outage does not count
 * (it may have been RF: the tag may have left during the outage). */
static void test_outage_interval(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    struct events e = {0};
    struct sk_tag_read t = tag(3, 1);
    int64_t now = 0;
    for (int i = 0; i < 3; i++) {
        sk_presence_update(p, now += POLL_US, &t, 1, count, &e);
    }
    int64_t last_read = now;
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e); /* one miss, then the outage */
    now += 5000000;
    sk_presence_resume(p, now);
    int64_t back = now + POLL_US;
    while (e.departed == 0) {
        sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    }
    assert_true(e.last.last_seen_us == last_read);
    assert_true(e.last.first_missed_us == back);
    sk_presence_free(p);
}

/* A tag put down while the reader was out arrives with its interval: from the last poll
 * before the outage (which did not read it) to its first read after it. */
static void test_arrival_interval(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    struct events e = {0};
    struct sk_tag_read other = tag(1, 1), t[2] = {tag(1, 1), tag(2, 1)};
    int64_t now = 0;
    for (int i = 0; i < 3; i++) {
        sk_presence_update(p, now += POLL_US, &other, 1, count, &e);
    }
    int64_t before = now; /* the last answered poll: tag 2 not on the shelf */
    now += 5000000;       /* the outage: no poll answered */
    sk_presence_resume(p, now);
    int64_t first = now + POLL_US;
    while (e.arrived < 2) {
        sk_presence_update(p, now += POLL_US, t, 2, count, &e);
    }
    assert_true(e.last.type == SK_PRESENCE_ARRIVED);
    assert_true(e.last.first_seen_us == first);
    assert_true(e.last.absent_us == before);
    assert_true(now > first); /* reported after its first read (k of n) */
    sk_presence_free(p);
}

/* A poll gap far longer than usual (the bus thread was not scheduled) is not unseen time: a
 * miss right after it departs nothing, while a tag really taken still departs after hold. */
static void test_stall_is_not_unseen_time(void **state)
{
    (void)state;
    const struct sk_presence_params fast = {1, 1, 150000}; /* 150 ms hold, 10 ms polls */
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &fast, &p), 0);
    struct events e = {0};
    struct sk_tag_read t = tag(1, 1);
    int64_t now = 1000000;
    for (int i = 0; i < 20; i++) {
        sk_presence_update(p, now += 10000, &t, 1, count, &e);
    }
    assert_int_equal(e.arrived, 1);
    int64_t last_read = now;
    /* a one-second stall, and the first poll after it misses the tag */
    sk_presence_update(p, now += 1000000, NULL, 0, count, &e);
    assert_int_equal(e.departed, 0);
    struct sk_presence_stats st;
    sk_presence_get_stats(p, &st);
    assert_int_equal(st.stalls, 1);
    /* the tag is really gone: it departs once 150 ms of regular polling missed it */
    int polls = 0;
    while (e.departed == 0 && polls < 100) {
        sk_presence_update(p, now += 10000, NULL, 0, count, &e);
        polls++;
    }
    assert_int_equal(e.departed, 1);
    assert_in_range(polls, 12, 14);                /* 150 ms minus the 20 ms the stall counted */
    assert_true(e.last.last_seen_us == last_read); /* the real last read, not moved */

    /* a steady slower cycle (a bigger bus) becomes the new normal after 8 gaps */
    struct sk_tag_read t2 = tag(2, 1);
    for (int i = 0; i < 40; i++) {
        sk_presence_update(p, now += 40000, &t2, 1, count, &e);
    }
    sk_presence_get_stats(p, &st);
    /* The first 40 ms gaps count as stalls (as 20 ms each: unseen time runs slower, never
     * faster) until they are the median of the last 16 gaps, after 8 of them. */
    assert_int_equal(st.stalls, 1 + 8);
    sk_presence_update(p, now += 40000, &t2, 1, count, &e);
    sk_presence_get_stats(p, &st);
    assert_int_equal(st.stalls, 9);
    sk_presence_free(p);
}

static void test_seed_and_outage(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    struct events e = {0};
    struct sk_tag_read a = tag(1, 1), b = tag(2, 1);
    int64_t now = 1000000;
    /* state from before a restart: both present */
    assert_int_equal(sk_presence_seed(p, 1, a.epc, 12, now), 1);
    assert_int_equal(sk_presence_seed(p, 1, b.epc, 12, now), 1);
    assert_int_equal(sk_presence_seed(p, 1, b.epc, 12, now), 0);
    /* a is still there: no arrival; b is gone: one departure after hold */
    for (int i = 0; i < 30; i++) {
        sk_presence_update(p, now += POLL_US, &a, 1, count, &e);
    }
    assert_int_equal(e.arrived, 0);
    assert_int_equal(e.departed, 1);
    assert_memory_equal(e.last.epc, b.epc, 12);
    /* an outage of a minute (no successful polls) ages nothing */
    now += 60000000;
    sk_presence_resume(p, now);
    sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
    assert_int_equal(e.departed, 1);
    sk_presence_free(p);
}

static void test_per_antenna_params(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(64, &standard, &p), 0);
    const struct sk_presence_params fast = {1, 2, 1000000};
    assert_int_equal(sk_presence_set_params(p, 3, &fast), 0);
    const struct sk_presence_params bad = {4, 3, 1000};
    assert_int_equal(sk_presence_set_params(p, 3, &bad), -EINVAL);
    struct events e = {0};
    struct sk_tag_read t1 = tag(1, 1), t3 = tag(1, 3);
    struct sk_tag_read both[2] = {t1, t3};
    int64_t now = 0;
    sk_presence_update(p, now += POLL_US, both, 2, count, &e);
    assert_int_equal(e.arrived, 1); /* antenna 3 needs one read */
    assert_int_equal(e.last.antenna, 3);
    sk_presence_update(p, now += POLL_US, both, 2, count, &e);
    assert_int_equal(e.arrived, 2);
    /* same EPC on two antennas: two entries, departing on their own schedules */
    int departed_at[4] = {0};
    for (int i = 1; i <= 20; i++) {
        sk_presence_update(p, now += POLL_US, NULL, 0, count, &e);
        if (e.departed && !departed_at[e.last.antenna]) {
            departed_at[e.last.antenna] = i;
        }
    }
    assert_int_equal(e.departed, 2);
    assert_int_equal(departed_at[3], 5);  /* 1 s */
    assert_int_equal(departed_at[1], 15); /* 3 s */
    sk_presence_free(p);
}

static void test_bound(void **state)
{
    (void)state;
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(16, &standard, &p), 0);
    struct sk_tag_read reads[40];
    for (int i = 0; i < 40; i++) {
        reads[i] = tag(i, 1);
    }
    struct events e = {0};
    sk_presence_update(p, POLL_US, reads, 40, count, &e);
    struct sk_presence_stats st;
    sk_presence_get_stats(p, &st);
    assert_int_equal(st.candidates, 16);
    assert_int_equal(st.overflow, 24);
    assert_int_equal(sk_presence_seed(p, 1, reads[39].epc, 12, 0), -ENOSPC);
    sk_presence_free(p);
}

/* Random reads against a reference model of the rules, over many add/remove cycles. */
static void test_random_against_model(void **state)
{
    (void)state;
    srand(seed_from_env(424242));

    enum {
        N = 300
    };
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(4096, &standard, &p), 0);
    static uint64_t window[N];
    static int64_t last_seen[N];
    static bool present[N];
    memset(window, 0, sizeof(window));
    memset(present, 0, sizeof(present));
    struct events e = {0};
    int64_t now = 0;
    int arrived = 0, departed = 0;
    for (int poll = 0; poll < 3000; poll++) {
        now += POLL_US;
        struct sk_tag_read reads[N];
        size_t n = 0;
        bool seen[N] = {false};
        for (int i = 0; i < N; i++) {
            /* tags come and go in phases, with RF noise on top */
            int phase = (poll / 40 + i) % 5;
            int pct = phase == 0 ? 0 : phase == 1 ? 30 : 85;
            if (rand() % 100 < pct) {
                reads[n++] = tag(i, 1 + i % 2);
                seen[i] = true;
            }
        }
        sk_presence_update(p, now, reads, n, count, &e);
        for (int i = 0; i < N; i++) {
            window[i] = ((window[i] << 1) | seen[i]) & 7;
            if (seen[i]) {
                last_seen[i] = now;
            }
            if (!present[i] && __builtin_popcountll(window[i]) >= 2) {
                present[i] = true;
                arrived++;
            } else if (present[i] && !seen[i] && now - last_seen[i] >= standard.hold_us) {
                present[i] = false;
                departed++;
                window[i] = 0;
            }
        }
        assert_int_equal(e.arrived, arrived);
        assert_int_equal(e.departed, departed);
    }
    assert_true(arrived > 100 && departed > 100);
    sk_presence_free(p);
}

/* The flicker test: a static shelf read at 80 % per poll for 1,000 polls departs nothing. */
static void test_flicker(void **state)
{
    (void)state;
    srand(seed_from_env(8080));
    struct sk_presence *p;
    assert_int_equal(sk_presence_new(1024, &standard, &p), 0);

    enum {
        TAGS = 64
    };
    struct events e = {0};
    int64_t now = 0;
    size_t misses = 0;
    for (int poll = 0; poll < 1000; poll++) {
        struct sk_tag_read reads[TAGS];
        size_t n = 0;
        for (int i = 0; i < TAGS; i++) {
            if (rand() % 100 < 80) {
                reads[n++] = tag(i, 1);
            }
        }
        misses += TAGS - n;
        sk_presence_update(p, now += POLL_US, reads, n, count, &e);
    }
    print_message("1000 polls, %d tags, %zu misses: %d arrivals, %d departures\n", TAGS, misses,
                  e.arrived, e.departed);
    assert_int_equal(e.arrived, TAGS);
    assert_int_equal(e.departed, 0);
    sk_presence_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_k_of_n_arrival),
            cmocka_unit_test(test_hold_departure),
            cmocka_unit_test(test_outage_interval),
            cmocka_unit_test(test_arrival_interval),
            cmocka_unit_test(test_stall_is_not_unseen_time),
            cmocka_unit_test(test_seed_and_outage),
            cmocka_unit_test(test_per_antenna_params),
            cmocka_unit_test(test_bound),
            cmocka_unit_test(test_random_against_model),
            cmocka_unit_test(test_flicker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
