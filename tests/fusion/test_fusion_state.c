/* SPDX-License-Identifier: MIT */
/* Fusion state export/import, malformed state, commands (bind, restock), bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "fusion_script.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"

struct fx {
    char dir[64];
    struct sk_config *cfg;
    struct sk_clock_manual clk;
    struct sk_fusion *f;
    int events;
    int last_type;
};

static int count(void *ctx, const struct sk_fusion_event *ev)
{
    struct fx *x = ctx;
    x->events++;
    x->last_type = ev->type;
    return 0;
}

static int setup(void **state)
{
    sk_log_set_level(SK_LOG_ERR);
    struct fx *x = calloc(1, sizeof(*x));
    sk_test_tmpdir(x->dir, sizeof(x->dir));
    char path[128];
    sk_test_write(x->dir, "s.cfg",
                  "store_id = \"t\"; device_id = \"d\"; board = \"sim\";\n"
                  "buses = ( { name = \"b\"; url = \"tcp:127.0.0.1:1502\"; } );\n"
                  "readers = ( { name = \"ra\"; bus = \"b\"; unit = 1; } );\n"
                  "shelves = ( { name = \"A1\"; reader = \"ra\"; zone = \"za\"; } );\n"
                  "cameras = ( { name = \"cam\"; backend = \"synthetic\"; } );\n"
                  "zones = ( { name = \"za\"; camera = \"cam\"; polygon = [0.0, 0.0, 10.0, 0.0, "
                  "10.0, 10.0]; } );\n"
                  "lines = ( { name = \"door\"; camera = \"cam\"; role = \"door\"; inside = "
                  "\"right\"; points = "
                  "[60.0, 0.0, 60.0, 10.0]; } );\n"
                  "fusion = { max_sessions = 2; };\n",
                  path, sizeof(path));
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config_opts o = {.data_dir = SK_TEST_DATADIR};
    assert_int_equal(sk_config_load(path, &o, &d, &x->cfg), 0);
    sk_diag_free(&d);
    sk_clock_manual_init(&x->clk, 1000000, 1800000000000000LL);
    assert_int_equal(sk_fusion_new(x->cfg, &x->clk.clock, NULL, count, x, &x->f), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    sk_fusion_free(x->f);
    sk_config_free(x->cfg);
    sk_test_rmdir(x->dir);
    free(x);
    return 0;
}

static void cross_in(struct fx *x, uint32_t track)
{
    struct sk_obs o = {.type = SK_OBS_LINE_CROSS};
    o.mono_us = sk_clock_mono_us(&x->clk.clock);
    sk_obs_set_source(&o, "cam");
    o.u.track.track_id = track;
    o.u.track.dir = SK_LINE_IN;
    snprintf(o.u.track.zone, sizeof(o.u.track.zone), "door");
    assert_int_equal(sk_fusion_handle(x->f, &o), 0);
}

/* Export, import into the same engine, export again: the same state. */
static void test_roundtrip(void **state)
{
    struct fx *x = *state;
    cross_in(x, 1);
    assert_int_equal(sk_fusion_bind(x->f, "acct", NULL, 1, 99000000), 0);
    struct sk_obs o = {.type = SK_OBS_TAG_DEPARTED, .mono_us = 2000000};
    sk_obs_set_source(&o, "ra");
    o.u.tag.antenna = 1;
    o.u.tag.epc_len = 12;
    script_epc(101, o.u.tag.epc);
    assert_int_equal(sk_fusion_handle(x->f, &o), 0);
    assert_true(sk_fusion_dirty(x->f));

    cJSON *a = sk_fusion_export(x->f);
    assert_non_null(a);
    assert_int_equal(sk_fusion_import(x->f, a), 0);
    cJSON *b = sk_fusion_export(x->f);
    char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
    assert_string_equal(ta, tb);
    assert_int_equal(sk_fusion_session_count(x->f), 1);
    struct sk_fusion_stats st;
    sk_fusion_get_stats(x->f, &st);
    assert_int_equal(st.pending_departures, 1);
    free(ta);
    free(tb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* Every malformed state is refused and leaves the engine empty. */
static void test_malformed(void **state)
{
    struct fx *x = *state;
    cross_in(x, 1);
    cJSON *good = sk_fusion_export(x->f);
    char *text = cJSON_PrintUnformatted(good);
    cJSON_Delete(good);

    static const struct {
        const char *from, *to;
    } breaks[] = {
            {"\"version\":1", "\"version\":2"},
            {"\"next_session\":", "\"next_sessionX\":"},
            {"\"state\":1", "\"state\":9"},
            {"\"state\":1", "\"state\":\"x\""},
            {"\"camera\":\"cam\"", "\"camera\":\"0123456789012345678901234567890123\""},
            {"\"sessions\":[", "\"sessions\":[{},"},
    };

    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        char *p = strstr(text, breaks[i].from);
        assert_non_null(p);
        char bad[8192];
        snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(p - text), text, breaks[i].to,
                 p + strlen(breaks[i].from));
        cJSON *j = cJSON_Parse(bad);
        assert_non_null(j);
        assert_int_equal(sk_fusion_import(x->f, j), -22);
        assert_int_equal(sk_fusion_session_count(x->f), 0);
        cJSON_Delete(j);
    }
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(sk_fusion_import(x->f, arr), -22);
    cJSON_Delete(arr);
    assert_int_equal(sk_fusion_import(x->f, NULL), -22);
    free(text);
}

static void test_bounds_and_commands(void **state)
{
    struct fx *x = *state;
    cross_in(x, 1);
    cross_in(x, 2);
    cross_in(x, 3); /* fusion.max_sessions = 2: the third is not followed */
    assert_int_equal(sk_fusion_session_count(x->f), 2);
    struct sk_fusion_stats st;
    sk_fusion_get_stats(x->f, &st);
    assert_int_equal(st.dropped, 1);

    const struct sk_fusion_session *s = sk_fusion_session_of_track(x->f, "cam", 2);
    assert_non_null(s);
    assert_ptr_equal(sk_fusion_session_by_id(x->f, s->id), s);
    assert_int_equal(strlen(s->id), 36);
    assert_int_equal(s->id[14], '7'); /* UUIDv7-shaped */
    int before = x->events;
    assert_int_equal(sk_fusion_bind(x->f, "tok", s->id, 1, 0), 0);
    assert_string_equal(s->account, "tok");
    assert_int_equal(x->events, before + 1);
    assert_int_equal(sk_fusion_bind(x->f, "tok", "no-such-session", 1, 0), -2);
    for (int i = 0; i < 64; i++) {
        char t[16];
        snprintf(t, sizeof(t), "t%d", i);
        assert_int_equal(sk_fusion_bind(x->f, t, NULL, 1, 99000000), 0);
    }
    assert_int_equal(sk_fusion_bind(x->f, "one-too-many", NULL, 1, 99000000), -28);
    assert_int_equal(sk_fusion_bind(x->f, "t3", NULL, 1, 99000000), 0); /* again: refreshed */

    const char *bad = "Z9";
    assert_int_equal(sk_fusion_restock_done(x->f, &bad, 1, "r"), -2);
    assert_int_equal(sk_fusion_restock_begin(x->f, &bad, 1, 5), -2);
    const char *a1 = "A1";
    assert_int_equal(sk_fusion_restock_begin(x->f, &a1, 1, 50000000), 0);
    assert_int_equal(sk_fusion_restock_done(x->f, &a1, 1, "r1"), 0);
    assert_int_equal(x->last_type, SK_FEV_RESTOCK_SESSION);
    assert_int_equal(sk_fusion_stock(x->f, "A1", "x"), 0);
    assert_int_equal(sk_fusion_stock(x->f, "nope", "x"), -2);

    char buf[128];
    sk_fusion_review_text(SK_REVIEW_LOW_CONFIDENCE | SK_REVIEW_LATE_ITEM, buf, sizeof(buf));
    assert_string_equal(buf, "low_confidence,late_item");
    sk_fusion_review_text(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    assert_string_equal(sk_fusion_rule_name(SK_RULE_NEAREST), "nearest");
    assert_string_equal(sk_fusion_state_name(SK_SESSION_EXITING), "exiting");
}

/* An emit failure reaches the caller. */
static int fail_emit(void *ctx, const struct sk_fusion_event *ev)
{
    (void)ctx;
    (void)ev;
    return SK_ELEDGER_FULL;
}

static void test_emit_failure(void **state)
{
    struct fx *x = *state;
    struct sk_fusion *f;
    assert_int_equal(sk_fusion_new(x->cfg, &x->clk.clock, NULL, fail_emit, NULL, &f), 0);
    struct sk_obs o = {.type = SK_OBS_LINE_CROSS, .mono_us = 1000000};
    sk_obs_set_source(&o, "cam");
    o.u.track.track_id = 1;
    o.u.track.dir = SK_LINE_IN;
    snprintf(o.u.track.zone, sizeof(o.u.track.zone), "door");
    assert_int_equal(sk_fusion_handle(f, &o), SK_ELEDGER_FULL);
    sk_fusion_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bounds_and_commands, setup, teardown),
            cmocka_unit_test_setup_teardown(test_emit_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
