/* SPDX-License-Identifier: MIT */
/* Core state machine tests, driven synchronously with a manual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/core.h"
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_health_bookkeeping),
            cmocka_unit_test(test_present_set),
            cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
