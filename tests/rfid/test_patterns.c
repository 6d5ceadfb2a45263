/* SPDX-License-Identifier: MIT */
/* Every profile pattern against the virtual reader over real libmodbus (TCP on 127.0.0.1 and
 * RTU over a socat pty pair), and replies that are malformed or violate the profile: each
 * fails the poll with a clear error, and the next clean reply is read normally. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "rfid_test.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/vreader.h"

struct fixture {
    struct sk_vreader *v;
    struct sk_mbconn *c;
    struct sk_profile *p;
    struct sk_reader *r;
};

static void start_tcp(struct fixture *f, const char *profile, int unit, int timeout_ms)
{
    memset(f, 0, sizeof(*f));
    f->p = rt_profile(profile);
    struct sk_vreader_opts vo = {.listen = "tcp:127.0.0.1:0", .round_ms = 10, .seed = 7};
    assert_int_equal(sk_vreader_new(&vo, &f->v), 0);
    assert_int_equal(sk_vreader_add_unit(f->v, unit, f->p), 0);
    assert_int_equal(sk_vreader_start(f->v), 0);
    char url[64];
    snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", sk_vreader_port(f->v));
    struct sk_mbconn_opts mo = {
            .url = url, .response_timeout_ms = timeout_ms, .byte_timeout_ms = 50, .retries = 0};
    assert_int_equal(sk_mbconn_new(&mo, &f->c), 0);
    assert_int_equal(sk_mbconn_connect(f->c), 0);
    assert_int_equal(sk_reader_new(f->p, unit, 0, 1024, &f->r), 0);
}

static void stop(struct fixture *f)
{
    sk_reader_free(f->r);
    sk_mbconn_free(f->c);
    sk_vreader_free(f->v);
    sk_profile_free(f->p);
}

struct want {
    uint8_t epc[SK_EPC_MAX];
    size_t len;
    int antenna;
    int16_t rssi;
    bool seen;
};

/* Polls until every wanted tag was seen (accumulating over polls: event readers hand out
 * one tag at a time) or the deadline; checks antennas and RSSI (within tolerance). */
static void poll_until_all(struct fixture *f, struct want *w, size_t n, int rssi_tol, int max_polls)
{
    size_t seen = 0;
    for (int poll = 0; poll < max_polls && seen < n; poll++) {
        const struct sk_tag_read *tags;
        int rc = sk_reader_poll(f->r, f->c, &tags);
        if (rc < 0) {
            print_message("poll failed: %s (%s)\n", sk_strerror(rc), sk_reader_detail(f->r));
        }
        assert_true(rc >= 0);
        for (int i = 0; i < rc; i++) {
            bool known = false;
            for (size_t k = 0; k < n; k++) {
                if (tags[i].epc_len == w[k].len && memcmp(tags[i].epc, w[k].epc, w[k].len) == 0) {
                    known = true;
                    assert_int_equal(tags[i].antenna, w[k].antenna);
                    if (rssi_tol >= 0) {
                        assert_true(abs(tags[i].rssi_cdbm - w[k].rssi) <= rssi_tol);
                    }
                    assert_true(tags[i].reads >= 1);
                    if (!w[k].seen) {
                        w[k].seen = true;
                        seen++;
                    }
                }
            }
            if (!known) {
                char hex[SK_EPC_HEX_MAX];
                sk_epc_to_hex(tags[i].epc, tags[i].epc_len, hex, sizeof(hex));
                print_message("unexpected tag %s\n", hex);
            }
            assert_true(known);
        }
        assert_true(rt_wait_rounds(f->v, 1)); /* new reads for the next poll */
    }
    assert_int_equal(seen, n);
}

static size_t
add_population(struct fixture *f, int unit, struct want *w, size_t n, int antennas, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        rt_epc((int)i + 1, w[i].epc);
        w[i].epc[0] = (uint8_t)(0x30 + len); /* distinct per length */
        for (size_t k = 12; k < len; k++) {
            w[i].epc[k] = (uint8_t)(0xA0 + k);
        }
        w[i].len = len;
        w[i].antenna = 1 + (int)i % antennas;
        w[i].rssi = (int16_t)(-5000 - 100 * (int)i);
        assert_int_equal(sk_vreader_tag_add(f->v, unit, w[i].antenna, w[i].epc, len, w[i].rssi), 0);
    }
    return n;
}

/* P2/P6: count + fixed records behind a change counter; 64 tags need 11 reads. */
static void test_generic_epc_snapshot(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "generic-epc", 3, 300);
    static struct want w[64];
    add_population(&f, 3, w, 64, 4, 12);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 64, 0, 3);
    assert_true(sk_reader_requests(f.r) >= 12);
    /* nothing changed: only the status block is read and the snapshot is reused */
    const struct sk_tag_read *tags;
    int rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, 64);
    assert_true(sk_reader_cached(f.r));
    assert_int_equal(sk_reader_requests(f.r), 1);
    /* one tag leaves: the counter moves, the table is read again without it */
    assert_int_equal(sk_vreader_tag_remove(f.v, 3, 0, w[5].epc, 12), 0);
    assert_true(rt_wait_rounds(f.v, 1));
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, 63);
    assert_false(sk_reader_cached(f.r));
    /* longer EPCs (PC length 8 words) on another population */
    sk_vreader_tag_clear(f.v, 3);
    static struct want w16[10];
    add_population(&f, 3, w16, 10, 1, 16);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w16, 10, 0, 3);
    stop(&f);
}

/* P3: the read is the RF operation; exception 4 means no tag. */
static void test_omron_read_id(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "omron-v780-read-id", 255, 1500);
    const struct sk_tag_read *tags;
    for (int i = 0; i < 3; i++) {
        int rc = sk_reader_poll(f.r, f.c, &tags);
        assert_int_equal(rc, 0); /* exception 4: no tag, not a failure */
    }
    struct want w[1];
    add_population(&f, 255, w, 1, 1, 12);
    poll_until_all(&f, w, 1, -1, 5);
    stop(&f);
}

/* P1: flag + host acknowledge; one card at a time, all cards eventually; UIDs trimmed. */
static void test_inveo_latch(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "inveo-rfid-ind", 1, 300);
    struct want w[4];
    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        static const uint8_t uid[7] = {0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0x00};
        memcpy(w[i].epc, uid, 6);
        w[i].epc[5] = (uint8_t)(0xE5 + i);
        w[i].len = 6; /* HF UIDs: no length register, trailing zero padding trimmed */
        w[i].antenna = 1;
        assert_int_equal(sk_vreader_tag_add(f.v, 1, 1, w[i].epc, 6, -4000), 0);
    }
    poll_until_all(&f, w, 4, -1, 100);
    /* after an acknowledged read the flag is clear until the next RF round */
    stop(&f);
}

/* P5 + P6: command with loop-counter echo, TLV records with little-endian RSSI, drained. */
static void test_turck_mailbox(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "turck-tben-uhf-ch0", 1, 300);
    struct want w[20];
    add_population(&f, 1, w, 20, 1, 12);
    /* a few rounds: the buffer holds more than one 128-byte window */
    assert_true(rt_wait_rounds(f.v, 4));
    poll_until_all(&f, w, 20, 110, 3);
    /* a slow command execution is waited for (busy bit, echo) */
    sk_vreader_fault(f.v, 1, SK_VFAULT_BUSY, 30);
    for (size_t i = 0; i < 20; i++) {
        w[i].seen = false;
    }
    assert_true(rt_wait_rounds(f.v, 3));
    poll_until_all(&f, w, 20, 110, 5);
    /* longer than the profile's wait: a handshake error, then normal again */
    sk_vreader_fault(f.v, 1, SK_VFAULT_BUSY, 800);
    assert_true(rt_wait_rounds(f.v, 3)); /* reads buffered: the gate sends the command */
    const struct sk_tag_read *tags;
    int rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_HANDSHAKE);
    assert_non_null(strstr(sk_reader_detail(f.r), "not acknowledged"));
    sk_vreader_fault(f.v, 1, SK_VFAULT_BUSY, 0);
    /* the 800 ms execution ends: polls are answered again (each one in between gets the
     * handshake error) */
    int64_t end = sk_now_mono_us() + 5000000;
    do {
        assert_true(rt_wait_rounds(f.v, 1));
        rc = sk_reader_poll(f.r, f.c, &tags);
    } while (rc == SK_EMODBUS_HANDSHAKE && sk_now_mono_us() < end);
    assert_true(rc >= 0);
    for (size_t i = 0; i < 20; i++) {
        w[i].seen = false;
    }
    poll_until_all(&f, w, 20, 110, 5);
    /* nothing buffered: the gate skips the command */
    sk_vreader_tag_clear(f.v, 1);
    assert_true(rt_wait_rounds(f.v, 1));
    for (int i = 0; i < 20; i++) {
        rc = sk_reader_poll(f.r, f.c, &tags); /* drain what is left */
    }
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, 0);
    assert_int_equal(sk_reader_requests(f.r), 1);
    stop(&f);
}

/* P4 with a toggle bit, fixed records with 8-bit antenna/RSSI, 40-register read limit. */
static void test_toggle_mailbox(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "toggle-mailbox", 9, 300);
    struct want w[12];
    add_population(&f, 9, w, 12, 3, 14);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 12, 100, 3); /* whole dBm, and buffered reads carry RF jitter */
    /* a new connection re-reads the echoed toggle first, so the next command counts */
    sk_mbconn_close(f.c);
    assert_int_equal(sk_mbconn_connect(f.c), 0);
    sk_reader_resync(f.r);
    for (size_t i = 0; i < 12; i++) {
        w[i].seen = false;
    }
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 12, 100, 3);
    stop(&f);
}

/* P2 in input registers, 1-based addresses, BA bytes, CDAB 32-bit, length in words. */
static void test_words_snapshot(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "words-snapshot", 2, 300);
    struct want w[3];
    add_population(&f, 2, w, 3, 2, 12);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 3, -1, 3);
    stop(&f);
}

/* Duali: one card in input registers, length register (0 = no card). */
static void test_duali_snapshot(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "duali-qde-950", 1, 300);
    const struct sk_tag_read *tags;
    assert_int_equal(sk_reader_poll(f.r, f.c, &tags), 0);
    struct want w[1];
    add_population(&f, 1, w, 1, 1, 8);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 1, -1, 3);
    stop(&f);
}

/* The same reference map over RTU: a socat pty pair, two units on one line. */
static void test_generic_epc_rtu(void **state)
{
    (void)state;
    sk_test_require_tool("socat");
    char dir[] = "/tmp/sk-rtu-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct rt_pty pt;
    assert_int_equal(rt_pty_start(&pt, dir), 0);
    struct fixture f;
    memset(&f, 0, sizeof(f));
    f.p = rt_profile("generic-epc");
    char url[400];
    snprintf(url, sizeof(url), "rtu:%s:115200:8E1", pt.a);
    struct sk_vreader_opts vo = {.listen = url, .round_ms = 10, .seed = 3};
    assert_int_equal(sk_vreader_new(&vo, &f.v), 0);
    assert_int_equal(sk_vreader_add_unit(f.v, 1, f.p), 0);
    assert_int_equal(sk_vreader_add_unit(f.v, 2, f.p), 0);
    assert_int_equal(sk_vreader_start(f.v), 0);
    snprintf(url, sizeof(url), "rtu:%s:115200:8E1", pt.b);
    struct sk_mbconn_opts mo = {
            .url = url, .response_timeout_ms = 200, .byte_timeout_ms = 50, .pause_ms = 2};
    assert_int_equal(sk_mbconn_new(&mo, &f.c), 0);
    assert_int_equal(sk_mbconn_connect(f.c), 0);
    assert_int_equal(sk_reader_new(f.p, 2, 0, 1024, &f.r), 0);
    struct want w[20];
    add_population(&f, 2, w, 20, 2, 12);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 20, 0, 3);
    /* unit 1 is empty, unit 5 does not exist (silence on a serial line) */
    struct sk_reader *r1, *r5;
    assert_int_equal(sk_reader_new(f.p, 1, 0, 64, &r1), 0);
    assert_int_equal(sk_reader_new(f.p, 5, 100, 64, &r5), 0);
    const struct sk_tag_read *tags;
    assert_int_equal(sk_reader_poll(r1, f.c, &tags), 0);
    assert_int_equal(sk_reader_poll(r5, f.c, &tags), -ETIMEDOUT);
    /* a corrupted frame is a CRC error; the next request is answered again */
    sk_vreader_fault(f.v, 1, SK_VFAULT_CORRUPT, 100);
    assert_int_equal(sk_reader_poll(r1, f.c, &tags), SK_EMODBUS_CRC);
    /* another unit's reply: libmodbus 3.1.6 drops it without saying why; never a success */
    sk_vreader_fault(f.v, 1, SK_VFAULT_MALFORMED, SK_VMAL_WRONG_UNIT);
    int rc = sk_reader_poll(r1, f.c, &tags);
    assert_true(rc == SK_EMODBUS_FRAME || rc == SK_EMODBUS_CRC);
    sk_vreader_fault(f.v, 1, SK_VFAULT_NONE, 0);
    assert_int_equal(sk_reader_poll(r1, f.c, &tags), 0);
    sk_reader_free(r1);
    sk_reader_free(r5);
    stop(&f);
    rt_pty_stop(&pt);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Malformed frames and replies that violate the profile: clear errors, then recovery. */
static void test_malformed_replies(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "generic-epc", 1, 150);
    struct want w[5];
    add_population(&f, 1, w, 5, 1, 12);
    assert_true(rt_wait_rounds(f.v, 1));
    poll_until_all(&f, w, 5, 0, 3);
    const struct sk_tag_read *tags;

    static const struct {
        int kind;
        int expect;
    } frames[] = {
            {SK_VMAL_SHORT, SK_EMODBUS_FRAME},
            {SK_VMAL_WRONG_FC, SK_EMODBUS_FRAME},
            {SK_VMAL_BAD_TID, SK_EMODBUS_FRAME},
            /* bytes came, then stopped: a broken reply, not a silent device */
            {SK_VMAL_TRUNCATED, SK_EMODBUS_FRAME},
    };

    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        sk_vreader_fault(f.v, 1, SK_VFAULT_MALFORMED, frames[i].kind);
        int rc = sk_reader_poll(f.r, f.c, &tags);
        print_message("malformed kind %d: %s (%s)\n", frames[i].kind, sk_strerror(rc),
                      sk_reader_detail(f.r));
        assert_int_equal(rc, frames[i].expect);
        assert_true(strlen(sk_reader_detail(f.r)) > 0);
        sk_vreader_fault(f.v, 1, SK_VFAULT_MALFORMED, 0);
        assert_int_equal(sk_reader_poll(f.r, f.c, &tags), 5);
    }
    /* garbage: any transport error, never a crash, then normal */
    sk_vreader_fault(f.v, 1, SK_VFAULT_MALFORMED, SK_VMAL_GARBAGE);
    for (int i = 0; i < 20; i++) {
        assert_true(sk_reader_poll(f.r, f.c, &tags) < 0);
    }
    sk_vreader_fault(f.v, 1, SK_VFAULT_MALFORMED, 0);
    assert_int_equal(sk_reader_poll(f.r, f.c, &tags), 5);
    /* an exception the profile does not map: named in the detail */
    sk_vreader_fault(f.v, 1, SK_VFAULT_EXCEPTION, 2);
    int rc = sk_reader_poll(f.r, f.c, &tags);
    assert_true(sk_is_modbus_exception(rc));
    assert_int_equal(sk_modbus_exception(rc), 2);
    assert_non_null(strstr(sk_reader_detail(f.r), "exception 2"));
    sk_vreader_fault(f.v, 1, SK_VFAULT_NONE, 0);
    /* replies that violate the profile (the device logic frozen, registers poked) */
    sk_vreader_fault(f.v, 1, SK_VFAULT_FREEZE, 1);
    uint16_t v300[2] = {77, 300}; /* changes = 77, count = 300 > 64 */
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 2, v300, 2);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "tag count 300"));
    uint16_t cnt[2] = {78, 1}, pc = 0xF800; /* PC announcing 31 words: past the record */
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 2, cnt, 2);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0x103, &pc, 1);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "does not fit the record"));
    uint16_t ant[2] = {0, 0x3000}; /* antenna 0 */
    uint16_t cnt2[2] = {79, 1};
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 2, cnt2, 2);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0x100, ant, 1);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0x103, &ant[1], 1);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "antenna 0"));
    uint16_t magic = 0x1234;
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0, &magic, 1);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "wrong profile or unit"));
    assert_int_equal(sk_reader_identify(f.r, f.c), SK_EMODBUS_BADREPLY);
    magic = 0x534B;
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0, &magic, 1);
    assert_int_equal(sk_reader_identify(f.r, f.c), 1);
    sk_vreader_fault(f.v, 1, SK_VFAULT_NONE, 0);
    assert_true(rt_wait_rounds(f.v, 1));
    for (size_t i = 0; i < 5; i++) {
        w[i].seen = false;
    }
    poll_until_all(&f, w, 5, 0, 3);
    /* a reply slower than the timeout: -ETIMEDOUT, and the TCP connection is reopened so the
     * late answer cannot be taken for the next one */
    sk_vreader_fault(f.v, 1, SK_VFAULT_DELAY, 250);
    assert_int_equal(sk_reader_poll(f.r, f.c, &tags), -ETIMEDOUT);
    sk_vreader_fault(f.v, 1, SK_VFAULT_DELAY, 0);
    assert_int_equal(sk_reader_poll(f.r, f.c, &tags), 5);
    stop(&f);
}

/* Turck-style TLV stream with a record whose size runs past the window. */
static void test_tlv_violations(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "turck-tben-uhf-ch0", 1, 200);
    /* the device still acknowledges commands, but its data is what we poke */
    sk_vreader_fault(f.v, 1, SK_VFAULT_FREEZE, 2);
    /* header: length 20, bytes_avail 1 (the gate opens); data: a record claiming 200 bytes
     * (BA byte order: the size byte is the low byte of the first register) */
    uint16_t len = 20, avail = 1, data[2] = {0x01C8, 0x0000};
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 3, &len, 1);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 6, &avail, 1);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0x0C, data, 2);
    const struct sk_tag_read *tags;
    int rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "size 200"));
    /* a length beyond the 128-byte window */
    len = 300;
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 3, &len, 1);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    assert_non_null(strstr(sk_reader_detail(f.r), "larger than the window"));
    /* an EPC record of size 3: shorter than its header and RSSI */
    len = 20;
    data[0] = 0x0103;
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 3, &len, 1);
    sk_vreader_poke(f.v, 1, SK_TABLE_HOLDING, 0x0C, data, 2);
    rc = sk_reader_poll(f.r, f.c, &tags);
    assert_int_equal(rc, SK_EMODBUS_BADREPLY);
    print_message("%s\n", sk_reader_detail(f.r));
    stop(&f);
}

/* Replies with random contents where the profile expects counts, lengths and records: every
 * poll either decodes or fails with SK_EMODBUS_BADREPLY, never reads out of bounds.
 * Seed from SK_TEST_SEED, printed. */
static void test_random_register_contents(void **state)
{
    (void)state;
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 4242u;
    print_message("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    srand(seed);
    static const char *const profiles[] = {"generic-epc", "turck-tben-uhf-ch0", "toggle-mailbox",
                                           "words-snapshot", "duali-qde-950"};
    for (size_t pi = 0; pi < sizeof(profiles) / sizeof(profiles[0]); pi++) {
        struct fixture f;
        start_tcp(&f, profiles[pi], 1, 200);
        sk_vreader_fault(f.v, 1, SK_VFAULT_FREEZE, 2);
        int decoded = 0, refused = 0;
        for (int iter = 0; iter < 150; iter++) {
            for (size_t b = 0; b < f.p->n_blocks; b++) {
                const struct sk_prof_block *blk = &f.p->blocks[b];
                if (blk->table == SK_TABLE_COIL || blk->table == SK_TABLE_DISCRETE) {
                    continue;
                }
                uint16_t vals[128];
                size_t n = blk->count < 128 ? blk->count : 128;
                for (size_t i = 0; i < n; i++) {
                    /* small numbers often, so counts and lengths land near their limits */
                    vals[i] = (uint16_t)(rand() % 3 ? rand() % 80 : rand());
                }
                /* keep the identity sometimes so the tables get decoded too */
                if (pi == 0 && b == 0 && rand() % 4) {
                    vals[0] = 0x534B;
                    vals[1] = 1;
                    vals[6] = 64;
                    vals[7] = 20;
                }
                sk_vreader_poke(f.v, 1, blk->table, blk->address, vals, n);
            }
            if (f.p->pattern == SK_PATTERN_SNAPSHOT) {
                sk_reader_resync(f.r); /* read the tables whatever the change counter says */
            }
            const struct sk_tag_read *tags;
            int rc = sk_reader_poll(f.r, f.c, &tags);
            if (rc >= 0) {
                decoded++;
                for (int i = 0; i < rc; i++) {
                    assert_true(tags[i].epc_len >= 1 && tags[i].epc_len <= SK_EPC_MAX);
                    assert_true(tags[i].antenna >= 1);
                }
            } else {
                assert_true(rc == SK_EMODBUS_BADREPLY || rc == SK_EMODBUS_HANDSHAKE);
                assert_true(strlen(sk_reader_detail(f.r)) > 0);
                refused++;
            }
        }
        print_message("%s: %d polls decoded, %d refused\n", profiles[pi], decoded, refused);
        stop(&f);
    }
}

/* One URL grammar for readers and virtual readers: every part checked, and a bad one refused
 * by both. */
static void test_urls(void **state)
{
    (void)state;
    struct sk_mbconn_url u;
    assert_int_equal(sk_mbconn_parse_url("tcp:10.0.0.5:502", &u), 0);
    assert_true(u.tcp);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 502);
    assert_int_equal(sk_mbconn_parse_url("tcp:[::1]:1502", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 1502);
    assert_int_equal(sk_mbconn_parse_url("rtu:/dev/ttyUSB0:19200:8E1", &u), 0);
    assert_false(u.tcp);
    assert_string_equal(u.device, "/dev/ttyUSB0");
    assert_int_equal(u.baud, 19200);
    assert_int_equal(u.data_bits, 8);
    assert_int_equal(u.parity, 'E');
    assert_int_equal(u.stop_bits, 1);
    char long_dev[400];
    snprintf(long_dev, sizeof(long_dev), "rtu:/%0300d:9600:8N1", 0);
    const char *bad[] = {"tcp:host",
                         "tcp::502",
                         "tcp:host:65536",
                         "tcp:host:5o2",
                         "rtu:/dev/x",
                         "rtu::9600:8N1",
                         "rtu:/dev/x:299:8N1",
                         "rtu:/dev/x:4000001:8N1",
                         "rtu:/dev/x:9600:9N1",
                         "rtu:/dev/x:9600:8X1",
                         "rtu:/dev/x:9600:8N3",
                         "rtu:/dev/x:9600:8N1x",
                         "udp:host:502",
                         "",
                         long_dev};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sk_mbconn_parse_url(bad[i], &u), -EINVAL);
        struct sk_mbconn_opts mo = {.url = bad[i]};
        struct sk_mbconn *c = NULL;
        assert_int_equal(sk_mbconn_new(&mo, &c), -EINVAL);
        struct sk_vreader_opts vo = {.listen = bad[i]};
        struct sk_vreader *v = NULL;
        assert_int_equal(sk_vreader_new(&vo, &v), -EINVAL);
    }
}

/* Every fault that sets a number takes it within its range, and refuses one past either end
 * without changing anything. */
static void test_fault_ranges(void **state)
{
    (void)state;
    struct fixture f;
    start_tcp(&f, "generic-epc", 1, 300);

    const struct {
        int fault, max;
    } ranges[] = {{SK_VFAULT_DELAY, 60000},
                  {SK_VFAULT_EXCEPTION, 255},
                  {SK_VFAULT_CORRUPT, 100},
                  {SK_VFAULT_READ_PROB, 100},
                  {SK_VFAULT_MALFORMED, SK_VMAL_TRUNCATED},
                  {SK_VFAULT_BUSY, 60000}};

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        assert_int_equal(sk_vreader_fault(f.v, 1, ranges[i].fault, -1), -EINVAL);
        assert_int_equal(sk_vreader_fault(f.v, 1, ranges[i].fault, ranges[i].max + 1), -EINVAL);
        assert_int_equal(sk_vreader_fault(f.v, 1, ranges[i].fault, ranges[i].max), 0);
        assert_int_equal(sk_vreader_fault(f.v, 1, ranges[i].fault, 0), 0);
    }
    assert_int_equal(sk_vreader_fault(f.v, 1, SK_VFAULT_FREEZE, 3), -EINVAL);
    assert_int_equal(sk_vreader_fault(f.v, 9, SK_VFAULT_DELAY, 5), -ENOENT);
    /* all cleared: the reader reads as usual */
    assert_int_equal(sk_vreader_fault(f.v, 1, SK_VFAULT_NONE, 0), 0);
    const struct sk_tag_read *tags;
    assert_true(sk_reader_poll(f.r, f.c, &tags) >= 0);
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_generic_epc_snapshot),
            cmocka_unit_test(test_omron_read_id),
            cmocka_unit_test(test_inveo_latch),
            cmocka_unit_test(test_turck_mailbox),
            cmocka_unit_test(test_toggle_mailbox),
            cmocka_unit_test(test_words_snapshot),
            cmocka_unit_test(test_duali_snapshot),
            cmocka_unit_test(test_generic_epc_rtu),
            cmocka_unit_test(test_malformed_replies),
            cmocka_unit_test(test_tlv_violations),
            cmocka_unit_test(test_random_register_contents),
            cmocka_unit_test(test_urls),
            cmocka_unit_test(test_fault_ranges),
    };
    return sk_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
