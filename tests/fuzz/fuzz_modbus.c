/* SPDX-License-Identifier: MIT */
/* Fuzz target: the Modbus reply decoders: a reader's poll fed register contents and errors. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/presence.h"
#include "storekeeper/reader.h"

/*
 * What a reader sends back is input: the profile executor (drivers/reader.c) turns register
 * contents into tags through a profile, and every count, length, offset and TLV size in them
 * is the device's to choose. The frames themselves are libmodbus's to check; this target
 * plays the device one level above: a scripted connection (sk_mbconn_new_scripted) answers
 * each read with bytes of the input, or with the error the input picks (exception, timeout,
 * CRC, framing, link loss), and each write with success or an error.
 *
 * Input: byte 0 picks the profile (every shipped one and every good test profile), byte 1 the
 * bound of tags and whether identity is checked first; the rest is the script, read by the
 * polls in order. Up to 32 polls run per input, the tags of each go through a presence filter
 * as in a bus thread. When the script runs out, reads time out. Mailbox profiles wait for
 * their echo without sleeping (poll_ms 0), bounded by the script's length.
 */

#define MAX_PROFILES 64
#define MAX_POLLS    32

static struct sk_profile *profiles[MAX_PROFILES];
static size_t n_profiles;

struct script {
    const uint8_t *p, *end;
};

static int take(struct script *s)
{
    return s->p < s->end ? *s->p++ : -1;
}

static int script_error(struct script *s, int c)
{
    if (c < 0 || (c >= 0xE8 && c <= 0xEF)) {
        return -ETIMEDOUT;
    }
    if (c <= 0xE7) {
        int code = take(s);
        return SK_EMODBUS_EXC_BASE - (code > 0 ? code : 4);
    }
    if (c <= 0xF3) {
        return SK_EMODBUS_CRC;
    }
    if (c <= 0xF7) {
        return SK_EMODBUS_FRAME;
    }
    return -ECONNRESET;
}

static int script_read(void *ctx, int unit, int table, uint16_t addr, uint16_t count, void *dst)
{
    (void)unit;
    (void)addr;
    struct script *s = ctx;
    int c = take(s);
    bool bits = table == SK_TABLE_COIL || table == SK_TABLE_DISCRETE;
    size_t need = bits ? count : 2u * count;
    if (c >= 0xFC) { /* an all-zero reply: "no tags", counters at 0 */
        memset(dst, 0, need);
        return 0;
    }
    if (c < 0 || c >= 0xE0) {
        return script_error(s, c);
    }
    if ((size_t)(s->end - s->p) < need) {
        s->p = s->end;
        return -ETIMEDOUT;
    }
    if (bits) {
        uint8_t *b = dst;
        for (size_t i = 0; i < count; i++) {
            b[i] = s->p[i] & 1; /* libmodbus delivers bits as 0/1 */
        }
    } else {
        uint16_t *r = dst;
        for (size_t i = 0; i < count; i++) {
            r[i] = (uint16_t)(s->p[2 * i] << 8 | s->p[2 * i + 1]);
        }
    }
    s->p += need;
    return 0;
}

static int
script_write(void *ctx, int unit, uint16_t addr, uint16_t count, const uint16_t *src, bool bit)
{
    (void)unit;
    (void)addr;
    (void)count;
    (void)src;
    (void)bit;
    struct script *s = ctx;
    int c = take(s);
    return c >= 0 && c < 0xE0 ? 0 : script_error(s, c);
}

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    char *names[MAX_PROFILES];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_PROFILES) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".prof") == 0) {
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    /* Sorted: byte 0 of an input must pick the same profile everywhere. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        struct sk_diag diag;
        sk_diag_init(&diag);
        struct sk_profile *p;
        if (n_profiles < MAX_PROFILES && sk_profile_load(path, &diag, &p) == 0) {
            /* Wait for echoes without sleeping; the script's length bounds the wait. */
            p->mailbox.poll_ms = 0;
            p->mailbox.wait_ms = 60000;
            profiles[n_profiles++] = p;
        }
        sk_diag_free(&diag);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/drivers/profiles", fuzz_source_dir());
    load_dir(dir);
    snprintf(dir, sizeof(dir), "%s/tests/rfid/profiles/good", fuzz_source_dir());
    load_dir(dir);
    if (n_profiles == 0) {
        fprintf(stderr, "fuzz_modbus: no profiles found under %s\n", fuzz_source_dir());
        abort();
    }
    return 0;
}

static void on_presence(const struct sk_presence_event *ev, void *ctx)
{
    (void)ctx;
    if (ev->epc_len > SK_EPC_MAX) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const struct sk_profile *p = profiles[data[0] % n_profiles];
    size_t max_tags = 1 + (data[1] & 0x3f);
    struct script s = {data + 2, data + size};
    struct sk_mbconn_script ops = {script_read, script_write, &s};
    struct sk_mbconn *conn = NULL;
    struct sk_reader *r = NULL;
    struct sk_presence *pf = NULL;
    struct sk_presence_params pp = {.arrive_k = 1, .arrive_n = 2, .hold_us = 300000};
    if (sk_mbconn_new_scripted(&ops, data[1] >> 7, &conn) < 0 ||
        sk_reader_new(p, 1, 0, max_tags, &r) < 0 || sk_presence_new(max_tags, &pp, &pf) < 0) {
        abort();
    }
    if (data[1] & 0x40) {
        sk_reader_identify(r, conn);
    }
    int64_t now_us = 1000000;
    for (int i = 0; i < MAX_POLLS && s.p < s.end; i++) {
        const struct sk_tag_read *tags = NULL;
        int n = sk_reader_poll(r, conn, &tags);
        now_us += 100000;
        if (n > (int)max_tags) {
            abort();
        }
        if (n >= 0) {
            for (int t = 0; t < n; t++) {
                if (tags[t].epc_len > SK_EPC_MAX) {
                    abort();
                }
            }
            sk_presence_update(pf, now_us, tags, (size_t)n, on_presence, NULL);
        } else if (!sk_mbconn_is_open(conn)) {
            sk_reader_resync(r);
            sk_mbconn_connect(conn);
        }
        (void)sk_reader_detail(r);
    }
    sk_presence_free(pf);
    sk_reader_free(r);
    sk_mbconn_free(conn);
    return 0;
}
