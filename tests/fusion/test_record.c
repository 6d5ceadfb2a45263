/* SPDX-License-Identifier: MIT */
/* Recordings: every observation kind written and read back identical; malformed lines refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "storekeeper/error.h"
#include "storekeeper/record.h"

struct fx {
    char dir[64];
    char rec[128];
    struct sk_config cfg;
    struct sk_ledger *ledger;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    sk_test_tmpdir(x->dir, sizeof(x->dir));
    snprintf(x->rec, sizeof(x->rec), "%s/run.rec", x->dir);
    snprintf(x->cfg.store_id, sizeof(x->cfg.store_id), "s1");
    snprintf(x->cfg.device_id, sizeof(x->cfg.device_id), "d1");
    snprintf(x->cfg.hash, sizeof(x->cfg.hash), "abc123");
    char path[128];
    snprintf(path, sizeof(path), "%s/ledger.db", x->dir);
    struct sk_ledger_opts o = {
            .path = path, .store_id = "s1", .device_id = "d1", .flags = SK_LEDGER_CREATE};
    char msg[256];
    assert_int_equal(sk_ledger_open(&o, msg, sizeof(msg), &x->ledger), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    sk_ledger_close(x->ledger);
    sk_test_rmdir(x->dir);
    free(x);
    return 0;
}

static struct sk_obs make(int type, int i)
{
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.type = (uint16_t)type;
    o.mono_us = 1000000 + i;
    o.wall_us = 1800000000000000LL + i;
    sk_obs_set_source(&o, "src-1");
    switch (type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED:
        o.u.tag.antenna = 3;
        o.u.tag.epc_len = 12;
        for (int k = 0; k < 12; k++) {
            o.u.tag.epc[k] = (uint8_t)(k * 17 + i);
        }
        o.u.tag.rssi_cdbm = -4567;
        o.u.tag.reads = 9;
        o.u.tag.last_seen_us = 999000 + i;
        o.u.tag.first_missed_us = type == SK_OBS_TAG_DEPARTED ? 1099000 + i : 0;
        break;
    case SK_OBS_READER_HEALTH:
    case SK_OBS_CAMERA_HEALTH:
        o.u.health.state = SK_HEALTH_DEGRADED;
        o.u.health.reason = SK_REASON_CRC;
        o.u.health.errors = 7;
        o.u.health.rtt_us = 1234;
        snprintf(o.u.health.detail, sizeof(o.u.health.detail), "quote \" and\nnewline");
        break;
    case SK_OBS_FLOW:
        o.u.flow.entries = 2;
        o.u.flow.exits = 1;
        o.u.flow.occupancy = 4;
        o.u.flow.fps = 9.75f;
        o.u.flow.dropped = 3;
        o.u.flow.proc_ms = 0.8125f;
        o.u.flow.processed = 99;
        o.u.flow.obs_dropped = 1;
        break;
    case SK_OBS_MQTT_COMMAND:
        snprintf(o.u.command.name, sizeof(o.u.command.name), "session_bind");
        o.u.command.payload = strdup("{\"account_token\":\"tok-12345\"}");
        o.u.command.payload_len = strlen(o.u.command.payload);
        o.u.command.response_topic = strdup("cloud/replies/7");
        o.u.command.correlation = malloc(3);
        memcpy(o.u.command.correlation, "\x01\x02\xff", 3);
        o.u.command.correlation_len = 3;
        o.u.command.generation = 4;
        break;
    case SK_OBS_SATELLITE:
        snprintf(o.u.command.name, sizeof(o.u.command.name), "obs");
        o.u.command.payload = strdup("{\"seq\":4}");
        o.u.command.payload_len = strlen(o.u.command.payload);
        break;
    case SK_OBS_MQTT_LINK:
        o.u.mqtt.event = SK_MQTT_PUBACK;
        o.u.mqtt.mid = 77;
        o.u.mqtt.retry_ms = -1;
        break;
    case SK_OBS_TIMER:
        break;
    case SK_OBS_REACH:
        o.u.track.track_id = 42;
        o.u.track.x = 123.25f;
        o.u.track.y = 7.1f;
        snprintf(o.u.track.zone, sizeof(o.u.track.zone), "front-a1");
        o.u.track.dwell_ms = 900;
        o.u.track.reach = 0.75f;
        o.u.track.sole = SK_REACH_SHARED;
        break;
    default:
        o.u.track.track_id = 42;
        o.u.track.x = 123.25f;
        o.u.track.y = 7.1f;
        snprintf(o.u.track.zone, sizeof(o.u.track.zone), "front-a1");
        o.u.track.dir = SK_LINE_OUT;
        o.u.track.role = 2;
        o.u.track.dwell_ms = 3500;
    }
    return o;
}

static void test_roundtrip(void **state)
{
    struct fx *x = *state;
    struct sk_record *r;
    char err[256];
    assert_int_equal(sk_record_open(x->rec, &x->cfg, x->ledger, 5000, 6000, err, sizeof(err), &r),
                     0);
    /* never over an earlier recording */
    struct sk_record *r2;
    assert_int_equal(sk_record_open(x->rec, &x->cfg, x->ledger, 1, 1, err, sizeof(err), &r2),
                     -EEXIST);
    for (int t = SK_OBS_TAG_ARRIVED; t < SK_OBS_TYPE_COUNT; t++) {
        struct sk_obs o = make(t, t);
        if (t == SK_OBS_TAG_DEPARTED) { /* a satellite's: its origin comes back too */
            snprintf(o.origin, sizeof(o.origin), "sat-1");
            snprintf(o.origin_ledger, sizeof(o.origin_ledger), "01a251b6-0c7d");
            o.origin_seq = 41;
            o.origin_mark = 57;
        }
        assert_int_equal(sk_record_obs(r, 2000 + t, 3000 + t, &o), 0);
        sk_obs_release(&o);
    }
    assert_int_equal(sk_record_tick(r, 9000, 9500), 0);
    sk_record_close(r);

    struct sk_record_reader *rd;
    assert_int_equal(sk_record_reader_open(x->rec, err, sizeof(err), &rd), 0);
    const struct sk_record_header *h = sk_record_header(rd);
    assert_string_equal(h->store_id, "s1");
    assert_string_equal(h->config_hash, "abc123");
    assert_int_equal(h->mono_us, 5000);
    assert_int_equal(h->wall_us, 6000);
    char want[200];
    snprintf(want, sizeof(want), "%s/run.rec.ledger", x->dir);
    assert_string_equal(h->ledger, want);
    struct sk_record_entry e;
    for (int t = SK_OBS_TAG_ARRIVED; t < SK_OBS_TYPE_COUNT; t++) {
        assert_int_equal(sk_record_next(rd, &e, err, sizeof(err)), 1);
        assert_int_equal(e.kind, SK_RECORD_OBS);
        assert_int_equal(e.mono_us, 2000 + t);
        assert_int_equal(e.wall_us, 3000 + t);
        struct sk_obs o = make(t, t);
        assert_int_equal(e.obs.type, t);
        assert_int_equal(e.obs.mono_us, o.mono_us);
        if (t == SK_OBS_TAG_DEPARTED) {
            assert_string_equal(e.obs.origin, "sat-1");
            assert_string_equal(e.obs.origin_ledger, "01a251b6-0c7d");
            assert_int_equal(e.obs.origin_seq, 41);
            assert_int_equal(e.obs.origin_mark, 57);
        } else {
            assert_string_equal(e.obs.origin, "");
        }
        assert_string_equal(e.obs.source, o.source);
        if (t == SK_OBS_SATELLITE) {
            assert_string_equal(e.obs.u.command.name, "obs");
            assert_string_equal(e.obs.u.command.payload, o.u.command.payload);
        } else if (t == SK_OBS_MQTT_COMMAND) {
            assert_string_equal(e.obs.u.command.payload, o.u.command.payload);
            assert_string_equal(e.obs.u.command.response_topic, o.u.command.response_topic);
            assert_memory_equal(e.obs.u.command.correlation, "\x01\x02\xff", 3);
            assert_int_equal(e.obs.u.command.generation, 4);
        } else {
            /* everything else is plain data: the union must come back byte for byte */
            assert_memory_equal(&e.obs.u, &o.u, sizeof(o.u));
        }
        sk_obs_release(&o);
        sk_obs_release(&e.obs);
    }
    assert_int_equal(sk_record_next(rd, &e, err, sizeof(err)), 1);
    assert_int_equal(e.kind, SK_RECORD_TICK);
    assert_int_equal(e.mono_us, 9000);
    assert_int_equal(sk_record_next(rd, &e, err, sizeof(err)), 0);
    sk_record_reader_close(rd);
}

static void test_malformed(void **state)
{
    struct fx *x = *state;
    static const char header[] = "{\"storekeeper_record\":1,\"store_id\":\"s1\",\"device_id\":"
                                 "\"d1\",\"config_hash\":\"h\",\"mono\":1,\"wall\":2,"
                                 "\"last_seq\":0,\"ledger\":\"run.rec.ledger\"}\n";

    static const struct {
        const char *text;
        int header_ok;
        const char *expect; /* after "FILE:" */
    } cases[] = {
            {"", 0, "1: not a storekeeper recording (no header line)"},
            {"garbage\n", 0, "1: not a storekeeper recording (no header line)"},
            {"{\"storekeeper_record\":2}\n", 0, "1: a recording of another version"},
            {"{\"storekeeper_record\":1,\"store_id\":\"s1\"}\n", 0,
             "1: missing or too long text: device_id"},
            {"not json\n", 1, "2: not a JSON object"},
            {"{\"t\":1,\"w\":2,\"type\":\"teleport\",\"m\":1,\"ow\":1,\"src\":\"x\"}\n", 1,
             "2: unknown observation type: teleport"},
            {"{\"t\":1,\"w\":2,\"type\":\"tag_arrived\",\"m\":1,\"ow\":1,\"src\":\"x\",\"ant\":1,"
             "\"epc\":\"XYZ\",\"rssi\":0,\"reads\":1,\"seen\":0}\n",
             1, "2: missing or malformed hex: epc"},
            {"{\"t\":1,\"w\":2,\"type\":\"tag_arrived\",\"m\":1,\"ow\":1,\"src\":\"x\",\"ant\":300,"
             "\"epc\":\"AB\",\"rssi\":0,\"reads\":1,\"seen\":0}\n",
             1, "2: missing or out-of-range number: ant"},
            {"{\"t\":-5,\"w\":2,\"tick\":true}\n", 1, "2: missing or out-of-range number: t"},
            {"{\"t\":1,\"w\":2,\"type\":\"zone_enter\",\"m\":1,\"ow\":1,\"src\":\"x\",\"id\":1,"
             "\"x\":1,\"y\":1,\"zone\":\"0123456789012345678901234567890123456789\",\"dir\":0,"
             "\"role\":0,\"dwell\":0}\n",
             1, "2: missing or too long text: zone"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[4096], path[128];
        snprintf(text, sizeof(text), "%s%s", cases[i].header_ok ? header : "", cases[i].text);
        sk_test_write(x->dir, "bad.rec", text, path, sizeof(path));
        char err[512] = "", want[512];
        snprintf(want, sizeof(want), "%s:%s", path, cases[i].expect);
        struct sk_record_reader *rd = NULL;
        int r = sk_record_reader_open(path, err, sizeof(err), &rd);
        if (r == 0) {
            struct sk_record_entry e;
            r = sk_record_next(rd, &e, err, sizeof(err));
            sk_record_reader_close(rd);
        }
        if (strcmp(err, want) != 0) {
            fprintf(stderr, "case %zu: %s\n   want %s\n", i, err, want);
        }
        assert_int_equal(r, SK_ERECORD);
        assert_string_equal(err, want);
    }
    /* a line beyond the limit */
    char path[128];
    snprintf(path, sizeof(path), "%s/long.rec", x->dir);
    FILE *f = fopen(path, "w");
    fputs(header, f);
    for (int i = 0; i < SK_RECORD_LINE_MAX + 10; i++) {
        fputc('x', f);
    }
    fclose(f);
    struct sk_record_reader *rd;
    char err[512];
    assert_int_equal(sk_record_reader_open(path, err, sizeof(err), &rd), 0);
    struct sk_record_entry e;
    assert_int_equal(sk_record_next(rd, &e, err, sizeof(err)), SK_ERECORD);
    assert_non_null(strstr(err, ":2: line longer than the limit"));
    sk_record_reader_close(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
