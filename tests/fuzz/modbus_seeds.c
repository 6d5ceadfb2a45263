/* SPDX-License-Identifier: MIT */
/* Records seed inputs of fuzz_modbus: real polls of the virtual readers, as the script format. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storekeeper/error.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/profile.h"
#include "storekeeper/reader.h"
#include "storekeeper/vreader.h"

/*
 *   modbus_seeds OUTDIR
 * For each profile fuzz_modbus knows (same order), runs the simulator's device side of it
 * (sk_vreader, Modbus TCP on loopback) with a few tags that come and go, polls it with the
 * real profile executor through a recording connection, and writes what the device answered
 * in fuzz_modbus's input format: byte 0 the profile's index, byte 1 the tag bound, then per
 * read 0x00 and the registers (big endian) or bits, per write 0x00, and an error byte for
 * failures. The seeds start the fuzzer deep inside every handshake instead of at "timeout".
 */

#define MAX_PROFILES 64
#define OUT_MAX      (64 * 1024)

struct rec {
    struct sk_mbconn *real;
    uint8_t out[OUT_MAX];
    size_t n;
};

static void put(struct rec *r, uint8_t b)
{
    if (r->n < OUT_MAX) {
        r->out[r->n++] = b;
    }
}

static void put_error(struct rec *r, int e)
{
    if (sk_is_modbus_exception(e)) {
        put(r, 0xE0);
        put(r, (uint8_t)sk_modbus_exception(e));
    } else if (e == SK_EMODBUS_CRC) {
        put(r, 0xF0);
    } else if (e == SK_EMODBUS_FRAME) {
        put(r, 0xF4);
    } else if (e == -ETIMEDOUT) {
        put(r, 0xE8);
    } else {
        put(r, 0xF8);
    }
}

static int rec_read(void *ctx, int unit, int table, uint16_t addr, uint16_t count, void *dst)
{
    struct rec *r = ctx;
    sk_mbconn_set_unit(r->real, unit);
    int e = sk_mbconn_read(r->real, table, addr, count, dst, true);
    if (e < 0) {
        put_error(r, e);
        return e;
    }
    put(r, 0x00);
    if (table == SK_TABLE_COIL || table == SK_TABLE_DISCRETE) {
        for (size_t i = 0; i < count; i++) {
            put(r, ((uint8_t *)dst)[i]);
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            uint16_t v = ((uint16_t *)dst)[i];
            put(r, (uint8_t)(v >> 8));
            put(r, (uint8_t)v);
        }
    }
    return 0;
}

static int
rec_write(void *ctx, int unit, uint16_t addr, uint16_t count, const uint16_t *src, bool bit)
{
    struct rec *r = ctx;
    sk_mbconn_set_unit(r->real, unit);
    int e = bit          ? sk_mbconn_write_bit(r->real, addr, src[0] != 0)
            : count == 1 ? sk_mbconn_write_reg(r->real, addr, src[0])
                         : sk_mbconn_write_regs(r->real, addr, count, src);
    if (e < 0) {
        put_error(r, e);
        return e;
    }
    put(r, 0x00);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* One recording: tags added, polled, some removed, polled again. */
static int record(const struct sk_profile *p, size_t index, int variant, const char *outdir)
{
    struct sk_vreader *v = NULL;
    struct sk_vreader_opts vo = {.listen = "tcp:127.0.0.1:0", .round_ms = 5, .seed = 11};
    int unit = 1;
    if (sk_vreader_new(&vo, &v) < 0 || sk_vreader_add_unit(v, unit, p) < 0 ||
        sk_vreader_start(v) < 0) {
        sk_vreader_free(v);
        return -1;
    }
    char url[64];
    snprintf(url, sizeof(url), "tcp:127.0.0.1:%d", sk_vreader_port(v));
    struct sk_mbconn_opts mo = {.url = url, .response_timeout_ms = 500, .byte_timeout_ms = 50};
    static struct rec r;
    memset(&r, 0, sizeof(r));
    struct sk_mbconn *script = NULL;
    struct sk_mbconn_script ops = {rec_read, rec_write, &r};
    struct sk_reader *rd = NULL;
    int ret = -1;
    if (sk_mbconn_new(&mo, &r.real) < 0 || sk_mbconn_connect(r.real) < 0 ||
        sk_mbconn_new_scripted(&ops, 0, &script) < 0 || sk_reader_new(p, unit, 0, 32, &rd) < 0) {
        goto out;
    }
    put(&r, (uint8_t)index);
    put(&r, 31); /* 32 tags, no identity check */
    int ntags = variant == 0 ? 1 : 5;
    for (int t = 0; t < ntags; t++) {
        uint8_t epc[12] = {0xE2,
                           0x80,
                           0x11,
                           0x60,
                           0x60,
                           0x00,
                           0x02,
                           0x10,
                           0,
                           0,
                           (uint8_t)variant,
                           (uint8_t)(t + 1)};
        sk_vreader_tag_add(v, unit, 1 + t % 2, epc, sizeof(epc), (int16_t)(-4000 - 100 * t));
    }
    if (variant == 2) {
        sk_vreader_fault(v, unit, SK_VFAULT_EXCEPTION, 6); /* device busy */
    }
    sleep_ms(30);
    for (int poll = 0; poll < 6; poll++) {
        const struct sk_tag_read *tags;
        sk_reader_poll(rd, script, &tags);
        if (poll == 2) {
            if (variant == 2) {
                sk_vreader_fault(v, unit, SK_VFAULT_NONE, 0);
            }
            sk_vreader_tag_clear(v, unit);
        }
        sleep_ms(20);
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/sim-%02zu-%s-%d", outdir, index, p->id, variant);
    FILE *f = fopen(path, "wb");
    if (f && fwrite(r.out, 1, r.n, f) == r.n) {
        ret = 0;
    }
    if (f) {
        fclose(f);
    }
out:
    sk_reader_free(rd);
    sk_mbconn_free(script);
    sk_mbconn_free(r.real);
    sk_vreader_free(v);
    return ret;
}

static size_t load_dir(const char *dir, struct sk_profile **out, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) {
        return n;
    }
    char *names[MAX_PROFILES];
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < MAX_PROFILES) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".prof") == 0) {
            names[k++] = strdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 1; i < k; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    for (size_t i = 0; i < k; i++) {
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        struct sk_diag diag;
        sk_diag_init(&diag);
        if (n < MAX_PROFILES && sk_profile_load(path, &diag, &out[n]) == 0) {
            n++;
        }
        sk_diag_free(&diag);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: modbus_seeds OUTDIR\n");
        return 2;
    }
    struct sk_profile *profiles[MAX_PROFILES];
    size_t n = 0;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/drivers/profiles", SK_SOURCE_DIR);
    n = load_dir(dir, profiles, n);
    snprintf(dir, sizeof(dir), "%s/tests/rfid/profiles/good", SK_SOURCE_DIR);
    n = load_dir(dir, profiles, n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        for (int variant = 0; variant < 3; variant++) {
            if (record(profiles[i], i, variant, argv[1]) < 0) {
                fprintf(stderr, "modbus_seeds: %s: recording %d failed\n", profiles[i]->id,
                        variant);
                failed++;
            }
        }
        sk_profile_free(profiles[i]);
    }
    printf("modbus_seeds: %zu profile(s), %d failure(s)\n", n, failed);
    return failed ? 1 : 0;
}
