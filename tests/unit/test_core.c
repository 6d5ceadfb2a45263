/* SPDX-License-Identifier: MIT */
/* Core state machine tests, driven synchronously with a manual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storekeeper/core.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

static struct sk_obs health(const char *src, uint16_t type, int state, int reason)
{
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.type = type;
    sk_obs_set_source(&o, src);
    o.u.health.state = (uint8_t)state;
    o.u.health.reason = (uint8_t)reason;
    return o;
}

static void test_health_bookkeeping(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERR);
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, 1000000, 1700000000000000);
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct sk_core *core;
    assert_int_equal(sk_core_new(&cfg, &clk.clock, &core), 0);
    assert_int_equal(sk_core_source_health(core, "r1"), SK_HEALTH_UNKNOWN);

    struct sk_obs o = health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_UP, 0);
    assert_int_equal(sk_core_handle(core, &o), 0);
    o = health("r2", SK_OBS_READER_HEALTH, SK_HEALTH_DOWN, SK_REASON_TIMEOUT);
    assert_int_equal(sk_core_handle(core, &o), 0);
    o = health("cam", SK_OBS_CAMERA_HEALTH, SK_HEALTH_DEGRADED, SK_REASON_BLACK_FRAMES);
    assert_int_equal(sk_core_handle(core, &o), 0);

    struct sk_core_stats s;
    sk_core_get_stats(core, &s);
    assert_int_equal(s.readers_up, 1);
    assert_int_equal(s.readers_down, 1);
    assert_int_equal(s.cameras_degraded, 1);
    assert_int_equal(s.handled[SK_OBS_READER_HEALTH], 2);
    assert_int_equal(sk_core_source_health(core, "r2"), SK_HEALTH_DOWN);

    /* r2 recovers. */
    o = health("r2", SK_OBS_READER_HEALTH, SK_HEALTH_UP, 0);
    sk_core_handle(core, &o);
    sk_core_get_stats(core, &s);
    assert_int_equal(s.readers_up, 2);
    assert_int_equal(s.readers_down, 0);

    /* Unknown types are refused, counted nowhere. */
    o.type = 999;
    assert_int_equal(sk_core_handle(core, &o), -22);

    sk_clock_manual_advance(&clk, 100000);
    sk_core_tick(core);
    sk_core_get_stats(core, &s);
    assert_int_equal(s.ticks, 1);
    assert_int_equal(s.started_mono_us, 1000000);
    sk_core_free(core);
}

struct reader_events {
    int n;
    int suppressed; /* sum of the "suppressed" fields */
    char last[512];
};

static int on_row(const struct sk_outbox_row *row, void *ctx)
{
    struct reader_events *e = ctx;
    if (strcmp(row->topic, "event/reader") == 0) {
        e->n++;
        const char *p = strstr(row->payload, "\"suppressed\":");
        e->suppressed += p ? atoi(p + 13) : 0;
        snprintf(e->last, sizeof(e->last), "%s", row->payload);
    }
    return 0;
}

/* Reader state changes become event/reader in the outbox, in the observation's transaction;
 * a flapping reader is limited to a burst, then one a minute, with the rest counted. */
static void test_reader_events(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERR);
    char path[] = "/tmp/sk-test-core-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, 1000000, 1700000000000000);
    struct sk_ledger_opts lo = {.path = path,
                                .store_id = "s1",
                                .device_id = "d1",
                                .flags = SK_LEDGER_CREATE | SK_LEDGER_NO_CHECK,
                                .clock = &clk.clock};
    struct sk_ledger *l;
    char msg[256];
    assert_int_equal(sk_ledger_open(&lo, msg, sizeof(msg), &l), 0);
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct sk_core *core;
    assert_int_equal(sk_core_new(&cfg, &clk.clock, &core), 0);
    assert_int_equal(sk_core_set_ledger(core, l), 0);

    /* 40 changes in 4 s: up, degraded, up, ... The first 6 are written, 34 are counted. */
    for (int i = 0; i < 40; i++) {
        struct sk_obs o =
                health("r1", SK_OBS_READER_HEALTH, i % 2 ? SK_HEALTH_DEGRADED : SK_HEALTH_UP,
                       i % 2 ? SK_REASON_TIMEOUT : SK_REASON_NONE);
        assert_true(sk_ledger_begin(l) >= 1);
        assert_int_equal(sk_core_handle(core, &o), 0);
        assert_int_equal(sk_ledger_commit(l), 0);
        sk_clock_manual_advance(&clk, 100000);
    }
    /* A repeat of the same state is no change. Camera health is not a reader event. */
    struct sk_obs same = health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_DEGRADED, SK_REASON_TIMEOUT);
    struct sk_obs cam = health("cam", SK_OBS_CAMERA_HEALTH, SK_HEALTH_DOWN, SK_REASON_TIMEOUT);
    assert_true(sk_ledger_begin(l) >= 1);
    assert_int_equal(sk_core_handle(core, &same), 0);
    assert_int_equal(sk_core_handle(core, &cam), 0);
    assert_int_equal(sk_ledger_commit(l), 0);
    struct reader_events e = {0};
    assert_int_equal(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0, 1);
    assert_int_equal(e.n, 6);
    assert_int_equal(e.suppressed, 0);
    assert_non_null(strstr(e.last, "\"state\":\"degraded\""));

    /* A minute later the next change is written, carrying the count of the rest. */
    sk_clock_manual_advance(&clk, 60000000);
    struct sk_obs up = health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_UP, SK_REASON_NONE);
    assert_true(sk_ledger_begin(l) >= 1);
    assert_int_equal(sk_core_handle(core, &up), 0);
    assert_int_equal(sk_ledger_commit(l), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0, 1);
    assert_int_equal(e.n, 7);
    assert_int_equal(e.suppressed, 34);
    assert_non_null(strstr(e.last, "\"previous\":\"degraded\""));

    sk_core_free(core);
    sk_ledger_close(l);
    unlink(path);
    char side[sizeof(path) + 8];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void handle_one(struct sk_ledger *l, struct sk_core *core, struct sk_obs o)
{
    assert_true(sk_ledger_begin(l) >= 1);
    assert_int_equal(sk_core_handle(core, &o), 0);
    assert_int_equal(sk_ledger_commit(l), 0);
}

/* After flapping, the history does not rest on a state the reader left: once a token is
 * there the tick writes the current one. An outage is written at once, token or not. */
static void test_reader_history_settles(void **state)
{
    (void)state;
    sk_log_set_level(SK_LOG_ERR);
    char path[] = "/tmp/sk-test-core-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, 1000000, 1700000000000000);
    struct sk_ledger_opts lo = {.path = path,
                                .store_id = "s1",
                                .device_id = "d1",
                                .flags = SK_LEDGER_CREATE | SK_LEDGER_NO_CHECK,
                                .clock = &clk.clock};
    struct sk_ledger *l;
    char msg[256];
    assert_int_equal(sk_ledger_open(&lo, msg, sizeof(msg), &l), 0);
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct sk_core *core;
    assert_int_equal(sk_core_new(&cfg, &clk.clock, &core), 0);
    assert_int_equal(sk_core_set_ledger(core, l), 0);

    /* 8 changes ending on up: 6 written (the last degraded), then the bucket is empty. */
    for (int i = 0; i < 8; i++) {
        handle_one(l, core,
                   health("r1", SK_OBS_READER_HEALTH, i % 2 ? SK_HEALTH_DEGRADED : SK_HEALTH_UP,
                          i % 2 ? SK_REASON_TIMEOUT : SK_REASON_NONE));
        sk_clock_manual_advance(&clk, 100000);
    }
    handle_one(l, core, health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_UP, SK_REASON_NONE));
    struct reader_events e = {0};
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, 6);
    assert_non_null(strstr(e.last, "\"state\":\"degraded\""));
    /* No token yet: the tick writes nothing. */
    sk_core_tick(core);
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, 6);
    /* A token later, with no new report: the history comes to rest on "up". */
    sk_clock_manual_advance(&clk, 60000000);
    sk_core_tick(core);
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, 7);
    assert_non_null(strstr(e.last, "\"state\":\"up\""));
    assert_non_null(strstr(e.last, "\"suppressed\":3"));
    sk_core_tick(core); /* nothing more to write */
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, 7);

    /* Empty the bucket again, then an outage: written and logged at once. */
    for (int i = 0; i < 12; i++) {
        handle_one(l, core,
                   health("r1", SK_OBS_READER_HEALTH, i % 2 ? SK_HEALTH_UP : SK_HEALTH_DEGRADED,
                          i % 2 ? SK_REASON_NONE : SK_REASON_CRC));
    }
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    int before = e.n;
    handle_one(l, core, health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_DOWN, SK_REASON_TIMEOUT));
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, before + 1);
    assert_non_null(strstr(e.last, "\"state\":\"down\""));
    /* Back up 28 s later with no token: held, then written when one comes. */
    sk_clock_manual_advance(&clk, 28000000);
    handle_one(l, core, health("r1", SK_OBS_READER_HEALTH, SK_HEALTH_UP, SK_REASON_NONE));
    sk_clock_manual_advance(&clk, 60000000);
    sk_core_tick(core);
    memset(&e, 0, sizeof(e));
    assert_true(sk_ledger_outbox_rows(l, 0, 1000, false, on_row, &e) >= 0);
    assert_int_equal(e.n, before + 2);
    assert_non_null(strstr(e.last, "\"state\":\"up\""));
    assert_non_null(strstr(e.last, "\"previous\":\"down\""));

    sk_core_free(core);
    sk_ledger_close(l);
    unlink(path);
    char side[sizeof(path) + 8];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static struct sk_obs tag(uint16_t type, const char *reader, uint8_t antenna, uint8_t last)
{
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.type = type;
    o.wall_us = 42;
    sk_obs_set_source(&o, reader);
    o.u.tag.antenna = antenna;
    o.u.tag.epc_len = 12;
    o.u.tag.epc[0] = 0x30;
    o.u.tag.epc[11] = last;
    return o;
}

static void test_present_set(void **state)
{
    (void)state;
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, 1, 1);
    struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.core.max_present_tags = 100;
    struct sk_core *core;
    assert_int_equal(sk_core_new(&cfg, &clk.clock, &core), 0);
    struct sk_obs o = tag(SK_OBS_TAG_ARRIVED, "r1", 1, 7);
    sk_core_handle(core, &o);
    o = tag(SK_OBS_TAG_ARRIVED, "r1", 2, 8);
    sk_core_handle(core, &o);
    o = tag(SK_OBS_TAG_ARRIVED, "r1", 1, 7); /* repeated arrival: still one */
    sk_core_handle(core, &o);
    assert_int_equal(sk_tagset_count(sk_core_present(core)), 2);
    o = tag(SK_OBS_TAG_DEPARTED, "r1", 1, 7);
    sk_core_handle(core, &o);
    assert_int_equal(sk_tagset_count(sk_core_present(core)), 1);
    struct sk_tag_key k;
    sk_tag_key_set(&k, "r1", 2, o.u.tag.epc, 12);
    k.epc[11] = 8;
    int64_t since = 0;
    assert_true(sk_tagset_contains(sk_core_present(core), &k, &since));
    assert_int_equal(since, 42);
    sk_core_free(core);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(sk_obs_type_name(SK_OBS_TAG_DEPARTED), "tag_departed");
    assert_string_equal(sk_obs_type_name(-1), "unknown");
    assert_string_equal(sk_obs_type_name(SK_OBS_TYPE_COUNT), "unknown");
    assert_string_equal(sk_health_state_name(SK_HEALTH_DEGRADED), "degraded");
    assert_string_equal(sk_health_reason_name(SK_REASON_READ_RATE), "read_rate");
    assert_string_equal(sk_health_reason_name(99), "unknown");
    char buf[32];
    assert_string_equal(sk_format_time_utc(1763719200123456, buf, sizeof(buf)),
                        "2025-11-21T10:00:00.123Z");
    /* the same second again (its calendar is cached), then the next ones */
    assert_string_equal(sk_format_time_utc(1763719200999999, buf, sizeof(buf)),
                        "2025-11-21T10:00:00.999Z");
    assert_string_equal(sk_format_time_utc(1763719201000000, buf, sizeof(buf)),
                        "2025-11-21T10:00:01.000Z");
    assert_string_equal(sk_format_time_utc(1709251199001000, buf, sizeof(buf)),
                        "2024-02-29T23:59:59.001Z");
    assert_string_equal(sk_format_time_utc(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    /* before the epoch: the millisecond counts up from the second before */
    assert_string_equal(sk_format_time_utc(-1000, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    assert_string_equal(sk_format_time_utc(-1000000, buf, sizeof(buf)), "1969-12-31T23:59:59.000Z");
    /* five-digit years and short buffers take the printf path: cut, still terminated */
    assert_string_equal(sk_format_time_utc(253402300800000000, buf, sizeof(buf)),
                        "10000-01-01T00:00:00.000Z");
    char small[11];
    assert_string_equal(sk_format_time_utc(1763719200123456, small, sizeof(small)), "2025-11-21");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_health_bookkeeping),
            cmocka_unit_test(test_reader_events),
            cmocka_unit_test(test_reader_history_settles),
            cmocka_unit_test(test_present_set),
            cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
