/* SPDX-License-Identifier: MIT */
/* The RFID service end to end in one process: bus threads over TCP and a socat RTU pty to
 * virtual readers, observations read off the real queue. Arrivals, one departure per removed
 * tag, every fault kind reported with the right health and reason and recovered from by
 * itself, no departures from outages, seeding across a restart, back-pressure without loss,
 * and the flicker test through the whole stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "rfid_test.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/queue.h"
#include "storekeeper/rfid.h"
#include "storekeeper/tagset.h"
#include "storekeeper/vreader.h"

#define MAX_OBS 20000

struct seen_obs {
    int type;
    char source[SK_NAME_MAX];
    uint8_t epc[SK_EPC_MAX];
    uint8_t epc_len;
    int state, reason;
    int64_t at_us;
};

struct world {
    char dir[64];
    struct rt_pty pty;
    struct sk_profile *prof;
    struct sk_vreader *tcp, *rtu;
    int port;
    struct sk_config *cfg;
    struct sk_queue *q;
    struct sk_rfid *svc;
    struct seen_obs *obs;
    size_t n_obs;
};

static struct sk_vreader *start_sim(struct world *w, const char *url, int n_units)
{
    struct sk_vreader_opts vo = {.listen = url, .round_ms = 10, .seed = 11};
    struct sk_vreader *v;
    assert_int_equal(sk_vreader_new(&vo, &v), 0);
    for (int u = 1; u <= n_units; u++) {
        assert_int_equal(sk_vreader_add_unit(v, u, w->prof), 0);
    }
    assert_int_equal(sk_vreader_start(v), 0);
    return v;
}

static void populate(struct sk_vreader *v, int unit, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        uint8_t epc[12];
        rt_epc(i, epc);
        assert_int_equal(sk_vreader_tag_add(v, unit, 1, epc, 12, -5500), 0);
    }
}

static void
load_config(struct world *w, const char *extra_buses, int hold_ms, int poll_ms, int pause_ms)
{
    char text[4096], path[128];
    snprintf(text, sizeof(text),
             "store_id = \"t\"; device_id = \"d\"; board = \"sim\";\n"
             "log = { level = \"warning\"; };\n"
             "buses = (\n"
             "  { name = \"net\"; url = \"tcp:127.0.0.1:%d\"; poll_interval_ms = %d;\n"
             "    response_timeout_ms = 100; pause_ms = %d; reconnect_min_ms = 100; "
             "reconnect_max_ms = 400; }%s\n"
             ");\n"
             "readers = (\n"
             "  { name = \"t1\"; bus = \"net\"; unit = 1; },\n"
             "  { name = \"t2\"; bus = \"net\"; unit = 2; }%s\n"
             ");\n"
             "presence_presets = ( { name = \"quick\"; arrive_k = 2; arrive_n = 3; hold_ms = %d; } "
             ");\n"
             "shelves = (\n"
             "  { name = \"s1\"; reader = \"t1\"; preset = \"quick\"; },\n"
             "  { name = \"s2\"; reader = \"t2\"; preset = \"quick\"; }%s\n"
             ");\n",
             w->port, poll_ms, pause_ms, extra_buses,
             extra_buses[0] ? ",\n  { name = \"r1\"; bus = \"line\"; unit = 1; },\n"
                              "  { name = \"r2\"; bus = \"line\"; unit = 2; }"
                            : "",
             hold_ms,
             extra_buses[0] ? ",\n  { name = \"s3\"; reader = \"r1\"; preset = \"quick\"; },\n"
                              "  { name = \"s4\"; reader = \"r2\"; preset = \"quick\"; }"
                            : "");
    sk_test_write(w->dir, "store.cfg", text, path, sizeof(path));
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config_opts co = {.data_dir = SK_TEST_DATADIR};
    int r = sk_config_load(path, &co, &d, &w->cfg);
    if (r < 0) {
        sk_diag_print(&d, stderr);
    }
    assert_int_equal(r, 0);
    sk_diag_free(&d);
}

static void start_service(struct world *w, const struct sk_tagset *present, size_t capacity)
{
    assert_int_equal(sk_queue_new(capacity, capacity * 3 / 4, capacity / 2, &w->q), 0);
    struct sk_rfid_opts o = {
            .cfg = w->cfg, .queue = w->q, .present = present, .push_timeout_ms = 50};
    struct sk_diag d;
    sk_diag_init(&d);
    int r = sk_rfid_start(&o, &d, &w->svc);
    if (r < 0) {
        sk_diag_print(&d, stderr);
    }
    assert_int_equal(r, 0);
    sk_diag_free(&d);
}

static void drain(struct world *w)
{
    struct sk_obs o;
    while (sk_queue_pop(w->q, &o) == 1) {
        assert_true(w->n_obs < MAX_OBS);
        struct seen_obs *s = &w->obs[w->n_obs++];
        memset(s, 0, sizeof(*s));
        s->type = o.type;
        snprintf(s->source, sizeof(s->source), "%s", o.source);
        s->at_us = sk_now_mono_us();
        if (o.type == SK_OBS_READER_HEALTH) {
            s->state = o.u.health.state;
            s->reason = o.u.health.reason;
        } else {
            s->epc_len = o.u.tag.epc_len;
            memcpy(s->epc, o.u.tag.epc, o.u.tag.epc_len);
        }
        sk_obs_release(&o);
    }
}

static size_t count(struct world *w, size_t from, int type, const char *source)
{
    size_t n = 0;
    for (size_t i = from; i < w->n_obs; i++) {
        n += w->obs[i].type == type && (!source || strcmp(w->obs[i].source, source) == 0);
    }
    return n;
}

/* Index of the first health observation from `from` with state (and reason if >= 0), or -1. */
static long find_health(struct world *w, size_t from, const char *source, int state, int reason)
{
    for (size_t i = from; i < w->n_obs; i++) {
        const struct seen_obs *s = &w->obs[i];
        if (s->type == SK_OBS_READER_HEALTH && strcmp(s->source, source) == 0 &&
            s->state == state && (reason < 0 || s->reason == reason)) {
            return (long)i;
        }
    }
    return -1;
}

/* Collects observations until pred holds or timeout_ms passes; returns pred's last value. */
typedef bool (*pred_fn)(struct world *w, size_t from, const void *arg);

static bool wait_for(struct world *w, size_t from, pred_fn pred, const void *arg, int timeout_ms)
{
    int64_t end = sk_now_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        drain(w);
        if (pred(w, from, arg)) {
            return true;
        }
        if (sk_now_mono_us() > end) {
            return false;
        }
        rt_sleep_ms(5);
    }
}

struct health_want {
    const char *source;
    int state, reason;
};

static bool has_health(struct world *w, size_t from, const void *arg)
{
    const struct health_want *h = arg;
    return find_health(w, from, h->source, h->state, h->reason) >= 0;
}

/* The latest health observation of h->source since from has h->state. */
static bool latest_health_is(struct world *w, size_t from, const void *arg)
{
    const struct health_want *h = arg;
    for (size_t i = w->n_obs; i > from; i--) {
        const struct seen_obs *o = &w->obs[i - 1];
        if (o->type == SK_OBS_READER_HEALTH && strcmp(o->source, h->source) == 0) {
            return o->state == h->state;
        }
    }
    return false;
}

struct count_want {
    int type;
    const char *source;
    size_t n;
};

static bool has_count(struct world *w, size_t from, const void *arg)
{
    const struct count_want *c = arg;
    return count(w, from, c->type, c->source) >= c->n;
}

static void
expect_health(struct world *w, size_t from, const char *src, int state, int reason, int ms)
{
    struct health_want h = {src, state, reason};
    bool ok = wait_for(w, from, has_health, &h, ms);
    if (!ok) {
        print_message("no %s %s(%s) since #%zu; got:\n", src, sk_health_state_name(state),
                      reason >= 0 ? sk_health_reason_name(reason) : "any", from);
        for (size_t i = from; i < w->n_obs; i++) {
            if (w->obs[i].type == SK_OBS_READER_HEALTH) {
                print_message("  %s %s %s\n", w->obs[i].source,
                              sk_health_state_name(w->obs[i].state),
                              sk_health_reason_name(w->obs[i].reason));
            }
        }
    }
    assert_true(ok);
}

/* The presence preset and poll interval of the world's stores (load_config's arguments in the
 * tests below). */
#define HOLD_MS 400
#define POLL_MS 50
/* Answered polls that span hold_ms, and one more: a tag that was not read meanwhile would
 * have departed within them. */
#define HOLD_POLLS (HOLD_MS / POLL_MS + 2)
/* Answered polls within which a tag seen again would arrive again (arrive_n 3), and one more. */
#define ARRIVE_POLLS 4

static const char *const TCP_READERS[] = {"t1", "t2", NULL};
static const char *const ALL_READERS[] = {"t1", "t2", "r1", "r2", NULL};

static uint64_t answered_polls(struct world *w, const char *name)
{
    struct sk_rfid_reader_stats st;
    assert_int_equal(sk_rfid_reader_stats(w->svc, name, &st), 0);
    return st.polls - st.poll_errors;
}

/* The marker of a "nothing happened" check: waits until every reader of names (NULL-ended)
 * answered n more polls, then drains. A poll's observations are queued before the next poll
 * is counted, so what the first n - 1 of them reported (an arrival again, a departure) has
 * been drained when this returns. */
static void settle(struct world *w, const char *const *names, uint64_t n)
{
    uint64_t start[8];
    size_t k = 0;
    for (; names[k]; k++) {
        assert_true(k < 8);
        start[k] = answered_polls(w, names[k]);
    }
    int64_t end = sk_now_mono_us() + 10000000;
    for (size_t i = 0; i < k;) {
        drain(w);
        if (answered_polls(w, names[i]) >= start[i] + n) {
            i++;
            continue;
        }
        if (sk_now_mono_us() > end) {
            fail_msg("reader %s answered %llu of %llu polls", names[i],
                     (unsigned long long)(answered_polls(w, names[i]) - start[i]),
                     (unsigned long long)n);
        }
        rt_sleep_ms(2);
    }
    drain(w);
}

/* Keeps a fault on until it outlasts hold_ms, the stimulus of the "no departures from
 * outages" checks. A reader that is down has answered nothing for longer than that (its last
 * answered poll is the clock that would age its tags) and, where it is still polled (polled:
 * a fault of the unit, not of the link), failed a poll after that: the moment a failed poll
 * taken for an empty shelf would make its tags depart. A degraded one, still answering
 * sometimes, has been polled through hold_ms. */
static void outlast_hold(struct world *w, const char *name, int state, bool polled)
{
    struct sk_rfid_reader_stats st0, st;
    assert_int_equal(sk_rfid_reader_stats(w->svc, name, &st0), 0);
    uint64_t errors_then = 0;
    bool ran_out = false;
    int64_t end = sk_now_mono_us() + 10000000;
    for (;;) {
        drain(w);
        assert_int_equal(sk_rfid_reader_stats(w->svc, name, &st), 0);
        int64_t now = sk_now_mono_us();
        if (state != SK_HEALTH_DOWN) {
            if (st.polls - st0.polls >= HOLD_POLLS) {
                return;
            }
        } else if (!ran_out) {
            ran_out = now - st.last_ok_mono_us > (int64_t)(HOLD_MS + POLL_MS) * 1000;
            errors_then = st.poll_errors;
            if (ran_out && !polled) {
                return;
            }
        } else if (st.poll_errors > errors_then) {
            return;
        }
        assert_true(now < end);
        rt_sleep_ms(5);
    }
}

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    *state = w;
    sk_test_tmpdir(w->dir, sizeof(w->dir));
    w->prof = rt_profile("generic-epc");
    w->obs = calloc(MAX_OBS, sizeof(*w->obs));
    assert_non_null(w->obs);
    return 0;
}

/* Runs after a failed test too (cmocka), so no thread outlives its test. */
static int world_teardown(void **state)
{
    struct world *w = *state;
    sk_rfid_stop(w->svc);
    sk_queue_free(w->q);
    sk_config_free(w->cfg);
    sk_vreader_free(w->tcp);
    sk_vreader_free(w->rtu);
    rt_pty_stop(&w->pty);
    sk_profile_free(w->prof);
    free(w->obs);
    sk_test_rmdir(w->dir);
    free(w);
    return 0;
}

static void test_two_buses_departure_and_faults(void **state)
{
    struct world *w = *state;
    sk_test_require_tool("socat");
    assert_int_equal(rt_pty_start(&w->pty, w->dir), 0);
    w->tcp = start_sim(w, "tcp:127.0.0.1:0", 2);
    w->port = sk_vreader_port(w->tcp);
    char url[400];
    snprintf(url, sizeof(url), "rtu:%s:115200:8E1", w->pty.a);
    w->rtu = start_sim(w, url, 2);
    for (int u = 1; u <= 2; u++) {
        populate(w->tcp, u, 100 * u, 4);
        populate(w->rtu, u, 1000 + 100 * u, 4);
    }
    char extra[600];
    snprintf(extra, sizeof(extra),
             ",\n  { name = \"line\"; url = \"rtu:%s:115200:8E1\"; poll_interval_ms = 50;\n"
             "    response_timeout_ms = 100; pause_ms = 2; reconnect_min_ms = 100; "
             "reconnect_max_ms = 400; }",
             w->pty.b);
    load_config(w, extra, HOLD_MS, POLL_MS, 5);
    start_service(w, NULL, 4096);

    /* every reader up, every tag arrived once */
    struct count_want all = {SK_OBS_TAG_ARRIVED, NULL, 16};
    assert_true(wait_for(w, 0, has_count, &all, 3000));
    static const char *const names[] = {"t1", "t2", "r1", "r2"};
    for (int i = 0; i < 4; i++) {
        assert_true(find_health(w, 0, names[i], SK_HEALTH_UP, -1) >= 0);
        assert_int_equal(count(w, 0, SK_OBS_TAG_ARRIVED, names[i]), 4);
    }
    settle(w, ALL_READERS, ARRIVE_POLLS); /* the marker: no tag arrives twice */
    assert_int_equal(count(w, 0, SK_OBS_TAG_ARRIVED, NULL), 16);
    assert_int_equal(count(w, 0, SK_OBS_TAG_DEPARTED, NULL), 0);

    /* a tag leaves shelf t1: exactly one departure within poll interval + hold (+ slack) */
    size_t mark = w->n_obs;
    uint8_t gone[12];
    rt_epc(101, gone);
    int64_t t0 = sk_now_mono_us();
    assert_int_equal(sk_vreader_tag_remove(w->tcp, 1, 0, gone, 12), 0);
    struct count_want one = {SK_OBS_TAG_DEPARTED, "t1", 1};
    assert_true(wait_for(w, mark, has_count, &one, 2000));
    int64_t took_ms = (sk_now_mono_us() - t0) / 1000;
    print_message("departure after %lld ms (poll 50 + hold 400)\n", (long long)took_ms);
    assert_true(took_ms <= 50 + 400 + 250);
    settle(w, ALL_READERS, HOLD_POLLS); /* the marker: no other tag departs with it */
    assert_int_equal(count(w, mark, SK_OBS_TAG_DEPARTED, NULL), 1);
    assert_memory_equal(w->obs[mark].epc, gone, 12);

    /* each fault: the reader goes down (or degraded) with the right reason, recovers by
     * itself, and its tags neither depart during the outage nor arrive again after it */
    static const struct {
        const char *reader;
        int sim; /* 0 tcp, 1 rtu */
        int unit, fault, value;
        int state, reason;
    } faults[] = {
            {"t2", 0, 2, SK_VFAULT_SILENT, 1, SK_HEALTH_DOWN, SK_REASON_TIMEOUT},
            {"t2", 0, 2, SK_VFAULT_DELAY, 300, SK_HEALTH_DOWN, SK_REASON_TIMEOUT},
            {"t2", 0, 2, SK_VFAULT_EXCEPTION, 6, SK_HEALTH_DOWN, SK_REASON_EXCEPTION},
            {"t1", 0, 1, SK_VFAULT_MALFORMED, SK_VMAL_SHORT, SK_HEALTH_DOWN, SK_REASON_BAD_REPLY},
            {"t1", 0, 1, SK_VFAULT_CORRUPT, 100, SK_HEALTH_DOWN, SK_REASON_BAD_REPLY},
            {"r1", 1, 1, SK_VFAULT_CORRUPT, 100, SK_HEALTH_DOWN, SK_REASON_CRC},
            {"r1", 1, 1, SK_VFAULT_CORRUPT, 50, SK_HEALTH_DEGRADED, SK_REASON_CRC},
            {"r2", 1, 2, SK_VFAULT_SILENT, 1, SK_HEALTH_DOWN, SK_REASON_TIMEOUT},
    };

    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        struct sk_vreader *v = faults[i].sim ? w->rtu : w->tcp;
        mark = w->n_obs;
        assert_int_equal(sk_vreader_fault(v, faults[i].unit, faults[i].fault, faults[i].value), 0);
        expect_health(w, mark, faults[i].reader, faults[i].state, faults[i].reason, 3000);
        outlast_hold(w, faults[i].reader, faults[i].state, true); /* must not age tags */
        assert_int_equal(sk_vreader_fault(v, faults[i].unit, SK_VFAULT_NONE, 0), 0);
        /* up again (a degraded reader, still answering now and then, may have been up for a
         * moment before the fault ended: its latest report counts) */
        struct health_want up = {faults[i].reader, SK_HEALTH_UP, -1};
        if (!wait_for(w, mark, latest_health_is, &up, 4000)) {
            for (size_t k = mark; k < w->n_obs; k++) {
                if (w->obs[k].type == SK_OBS_READER_HEALTH) {
                    print_message("  %s %s\n", w->obs[k].source,
                                  sk_health_state_name(w->obs[k].state));
                }
            }
            fail_msg("%s is not up again after fault %zu", faults[i].reader, i);
        }
        /* the marker: a departure the outage caused comes at the first answered poll, an
         * arrival again within arrive_n */
        settle(w, ALL_READERS, ARRIVE_POLLS);
        print_message("fault %zu on %s: %s (%s) then up\n", i, faults[i].reader,
                      sk_health_state_name(faults[i].state),
                      sk_health_reason_name(faults[i].reason));
        assert_int_equal(count(w, mark, SK_OBS_TAG_DEPARTED, NULL), 0);
        assert_int_equal(count(w, mark, SK_OBS_TAG_ARRIVED, NULL), 0);
    }

    /* the TCP server goes away (connection refused): both TCP readers down, disconnected;
     * it comes back on the same port with the same shelves: up again, no tag events */
    mark = w->n_obs;
    sk_vreader_free(w->tcp);
    w->tcp = NULL;
    expect_health(w, mark, "t1", SK_HEALTH_DOWN, SK_REASON_DISCONNECTED, 3000);
    expect_health(w, mark, "t2", SK_HEALTH_DOWN, SK_REASON_DISCONNECTED, 3000);
    outlast_hold(w, "t1", SK_HEALTH_DOWN, false);
    outlast_hold(w, "t2", SK_HEALTH_DOWN, false);
    snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", w->port);
    w->tcp = start_sim(w, url, 2);
    populate(w->tcp, 1, 100, 1);
    populate(w->tcp, 1, 102, 2); /* 101 left earlier */
    populate(w->tcp, 2, 200, 4);
    size_t mid = w->n_obs;
    expect_health(w, mid, "t1", SK_HEALTH_UP, -1, 4000);
    expect_health(w, mid, "t2", SK_HEALTH_UP, -1, 4000);
    /* the marker: the new server's shelves held through hold_ms of answered polls */
    settle(w, TCP_READERS, HOLD_POLLS);
    assert_int_equal(count(w, mark, SK_OBS_TAG_DEPARTED, NULL), 0);
    assert_int_equal(count(w, mark, SK_OBS_TAG_ARRIVED, NULL), 0);

    /* a dropped connection: reopened at once, at most a blip */
    mark = w->n_obs;
    struct sk_vreader_stats vs0, vs;
    sk_vreader_get_stats(w->tcp, &vs0);
    assert_int_equal(sk_vreader_fault(w->tcp, 1, SK_VFAULT_DROP, 0), 0);
    /* the marker: the bus connected again, then answered polls through hold_ms */
    int64_t end = sk_now_mono_us() + 5000000;
    do {
        rt_sleep_ms(5);
        drain(w);
        sk_vreader_get_stats(w->tcp, &vs);
        assert_true(sk_now_mono_us() < end);
    } while (vs.clients == vs0.clients);
    settle(w, TCP_READERS, HOLD_POLLS);
    assert_int_equal(find_health(w, mark, "t1", SK_HEALTH_DOWN, -1), -1);
    assert_int_equal(count(w, mark, SK_OBS_TAG_DEPARTED, NULL), 0);

    /* read-rate collapse: the antenna goes deaf; degraded (read_rate) comes before any of
     * its tags departs, and it ends when the shelf has nothing left to judge by */
    mark = w->n_obs;
    assert_int_equal(sk_vreader_fault(w->rtu, 2, SK_VFAULT_READ_PROB, 0), 0);
    expect_health(w, mark, "r2", SK_HEALTH_DEGRADED, SK_REASON_READ_RATE, 3000);
    long degraded_at = find_health(w, mark, "r2", SK_HEALTH_DEGRADED, SK_REASON_READ_RATE);
    struct count_want four = {SK_OBS_TAG_DEPARTED, "r2", 4};
    assert_true(wait_for(w, mark, has_count, &four, 3000));
    for (size_t i = mark; i < w->n_obs; i++) {
        if (w->obs[i].type == SK_OBS_TAG_DEPARTED) {
            assert_true((long)i > degraded_at);
        }
    }
    expect_health(w, mark, "r2", SK_HEALTH_UP, -1, 3000);
    mid = w->n_obs;
    assert_int_equal(sk_vreader_fault(w->rtu, 2, SK_VFAULT_NONE, 0), 0);
    struct count_want back = {SK_OBS_TAG_ARRIVED, "r2", 4};
    assert_true(wait_for(w, mid, has_count, &back, 3000));
}

/* A restart: the core's present set seeds the filters; no burst of arrivals, and a tag that
 * left while the process was down departs after hold_ms. */
static void test_seeded_restart(void **state)
{
    struct world *w = *state;
    w->tcp = start_sim(w, "tcp:127.0.0.1:0", 2);
    w->port = sk_vreader_port(w->tcp);
    populate(w->tcp, 1, 1, 2); /* tags 1, 2 are still on the shelf; 3 was taken meanwhile */
    populate(w->tcp, 1, 9, 1); /* and 9 was put there meanwhile */
    load_config(w, "", HOLD_MS, POLL_MS, 5);
    struct sk_tagset *present;
    assert_int_equal(sk_tagset_new(100, &present), 0);
    for (int i = 1; i <= 3; i++) {
        struct sk_tag_key k;
        uint8_t epc[12];
        rt_epc(i, epc);
        sk_tag_key_set(&k, "t1", 1, epc, 12);
        assert_int_equal(sk_tagset_add(present, &k, 0), 1);
    }
    start_service(w, present, 4096);
    sk_tagset_free(present);
    struct count_want dep = {SK_OBS_TAG_DEPARTED, "t1", 1};
    assert_true(wait_for(w, 0, has_count, &dep, 2000));
    /* the marker: no other seeded tag departs with it, nothing arrives but 9 */
    settle(w, TCP_READERS, HOLD_POLLS);
    assert_int_equal(count(w, 0, SK_OBS_TAG_DEPARTED, NULL), 1);
    uint8_t three[12], nine[12];
    rt_epc(3, three);
    rt_epc(9, nine);
    for (size_t i = 0; i < w->n_obs; i++) {
        if (w->obs[i].type == SK_OBS_TAG_DEPARTED) {
            assert_memory_equal(w->obs[i].epc, three, 12);
        }
        if (w->obs[i].type == SK_OBS_TAG_ARRIVED) {
            assert_memory_equal(w->obs[i].epc, nine, 12);
        }
    }
    assert_int_equal(count(w, 0, SK_OBS_TAG_ARRIVED, NULL), 1);
}

/* A small queue and a slow core: the bus thread waits instead of dropping; all arrive. */
static void test_backpressure(void **state)
{
    struct world *w = *state;
    w->tcp = start_sim(w, "tcp:127.0.0.1:0", 2);
    w->port = sk_vreader_port(w->tcp);
    populate(w->tcp, 1, 1, 60);
    populate(w->tcp, 2, 500, 60);
    load_config(w, "", 400, 20, 0);
    start_service(w, NULL, 16);
    int64_t end = sk_now_mono_us() + 8000000;
    while (count(w, 0, SK_OBS_TAG_ARRIVED, NULL) < 120 && sk_now_mono_us() < end) {
        struct sk_obs o;
        if (sk_queue_pop(w->q, &o) == 1) { /* one at a time, slowly */
            struct seen_obs *s = &w->obs[w->n_obs++];
            s->type = o.type;
            sk_obs_release(&o);
        }
        rt_sleep_ms(2);
    }
    struct sk_queue_stats qs;
    sk_queue_get_stats(w->q, &qs);
    print_message("arrived %zu, pushes that waited %llu, queue dropped %llu\n",
                  count(w, 0, SK_OBS_TAG_ARRIVED, NULL), (unsigned long long)qs.waits,
                  (unsigned long long)qs.dropped);
    assert_int_equal(count(w, 0, SK_OBS_TAG_ARRIVED, NULL), 120);
    assert_true(qs.waits > 0);
    assert_int_equal(qs.dropped, 0);
}

/* The flicker test through the stack: two static shelves of 64 tags, 80 % read probability
 * per RF round, 1,000 polls each with the standard preset's proportions (2 of 3 to arrive,
 * hold = 15 polls): every tag arrives once, none departs. */
static void test_flicker_end_to_end(void **state)
{
    struct world *w = *state;
    w->tcp = start_sim(w, "tcp:127.0.0.1:0", 2);
    w->port = sk_vreader_port(w->tcp);
    populate(w->tcp, 1, 1, 64);
    populate(w->tcp, 2, 101, 64);
    assert_int_equal(sk_vreader_fault(w->tcp, 0, SK_VFAULT_READ_PROB, 80), 0);
    load_config(w, "", 150, 10, 0);
    start_service(w, NULL, 4096);
    struct sk_rfid_stats st;
    do {
        rt_sleep_ms(50);
        drain(w);
        sk_rfid_get_stats(w->svc, &st);
    } while (st.polls < 2000); /* 1,000 per reader */
    print_message("%llu polls (%llu failed), %zu arrivals, %zu departures\n",
                  (unsigned long long)st.polls, (unsigned long long)st.poll_errors,
                  count(w, 0, SK_OBS_TAG_ARRIVED, NULL), count(w, 0, SK_OBS_TAG_DEPARTED, NULL));
    /* A poll that times out on a loaded machine (sanitizers, parallel tests) is not what this
     * test is about, and outages never age tags; a handful is tolerated, departures are not. */
    assert_true(st.poll_errors <= 10);
    assert_int_equal(count(w, 0, SK_OBS_TAG_ARRIVED, NULL), 128);
    assert_int_equal(count(w, 0, SK_OBS_TAG_DEPARTED, NULL), 0);
}

/* SIGHUP: a reloaded preset (hold 400 ms -> 2 s) applies at the next cycle. */
static void test_reload_presets(void **state)
{
    struct world *w = *state;
    w->tcp = start_sim(w, "tcp:127.0.0.1:0", 2);
    w->port = sk_vreader_port(w->tcp);
    populate(w->tcp, 1, 1, 2);
    load_config(w, "", HOLD_MS, POLL_MS, 0);
    start_service(w, NULL, 4096);
    struct count_want two = {SK_OBS_TAG_ARRIVED, "t1", 2};
    assert_true(wait_for(w, 0, has_count, &two, 2000));
    struct sk_config *old = w->cfg;
    w->cfg = NULL;
    load_config(w, "", 2000, 50, 0); /* same buses and readers, preset hold_ms 2000 */
    assert_int_equal(sk_rfid_reload(w->svc, w->cfg), 0);
    sk_config_free(old);
    settle(w, TCP_READERS, 2); /* a cycle began after the reload: it applies */
    uint8_t gone[12];
    rt_epc(1, gone);
    size_t mark = w->n_obs;
    int64_t t0 = sk_now_mono_us();
    assert_int_equal(sk_vreader_tag_remove(w->tcp, 1, 0, gone, 12), 0);
    struct count_want one = {SK_OBS_TAG_DEPARTED, "t1", 1};
    assert_true(wait_for(w, mark, has_count, &one, 4000));
    int64_t took_ms = (sk_now_mono_us() - t0) / 1000;
    print_message("departure after %lld ms with the reloaded hold of 2000 ms\n",
                  (long long)took_ms);
    assert_true(took_ms >= 1900 && took_ms <= 2500);
}

/* Bus URLs naming a board's serial port become its device, with its RS-485 flag. */
static void test_bus_url(void **state)
{
    (void)state;
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct sk_serial_port_cfg ports[2] = {
            {.name = "uart0", .device = "/dev/ttyAMA0", .rs485 = false},
            {.name = "rs485-0", .device = "/dev/ttySC0", .rs485 = true},
    };
    cfg.board.serial_ports = ports;
    cfg.board.n_serial_ports = 2;
    struct sk_bus_cfg b;
    memset(&b, 0, sizeof(b));
    char url[300];
    bool rs485 = true;
    snprintf(b.url, sizeof(b.url), "rtu:uart0:19200:8E1");
    assert_int_equal(sk_rfid_bus_url(&cfg, &b, url, sizeof(url), &rs485), 0);
    assert_string_equal(url, "rtu:/dev/ttyAMA0:19200:8E1");
    assert_false(rs485);
    snprintf(b.url, sizeof(b.url), "rtu:rs485-0:115200:8N1");
    assert_int_equal(sk_rfid_bus_url(&cfg, &b, url, sizeof(url), &rs485), 0);
    assert_string_equal(url, "rtu:/dev/ttySC0:115200:8N1");
    assert_true(rs485);
    snprintf(b.url, sizeof(b.url), "rtu:/dev/ttyUSB3:9600:8N1");
    assert_int_equal(sk_rfid_bus_url(&cfg, &b, url, sizeof(url), &rs485), 0);
    assert_string_equal(url, "rtu:/dev/ttyUSB3:9600:8N1");
    assert_false(rs485);
    snprintf(b.url, sizeof(b.url), "rtu:uart7:9600:8N1");
    assert_int_equal(sk_rfid_bus_url(&cfg, &b, url, sizeof(url), &rs485), -ENOENT);
    snprintf(b.url, sizeof(b.url), "tcp:10.0.0.1:502");
    assert_int_equal(sk_rfid_bus_url(&cfg, &b, url, sizeof(url), &rs485), 0);
    assert_string_equal(url, "tcp:10.0.0.1:502");
}

int main(void)
{
    setenv("STOREKEEPER_DATADIR", SK_TEST_DATADIR, 1);
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_two_buses_departure_and_faults, world_setup,
                                            world_teardown),
            cmocka_unit_test_setup_teardown(test_seeded_restart, world_setup, world_teardown),
            cmocka_unit_test_setup_teardown(test_backpressure, world_setup, world_teardown),
            cmocka_unit_test_setup_teardown(test_flicker_end_to_end, world_setup, world_teardown),
            cmocka_unit_test_setup_teardown(test_reload_presets, world_setup, world_teardown),
            cmocka_unit_test(test_bus_url),
    };
    return sk_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
