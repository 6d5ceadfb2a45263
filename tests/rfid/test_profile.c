/* SPDX-License-Identifier: MIT */
/* Profile tests: every shipped profile loads, every broken profile fails with exactly the
 * messages in its "# expect:" lines, and the codec handles every byte and word order. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storekeeper/error.h"
#include "storekeeper/profile.h"

static int load(const char *path, struct sk_diag *d, struct sk_profile **p)
{
    sk_diag_init(d);
    *p = NULL;
    return sk_profile_load(path, d, p);
}

static void test_shipped_profiles_load(void **state)
{
    (void)state;
    static const char *const names[] = {"generic-epc", "omron-v780-read-id", "inveo-rfid-ind",
                                        "turck-tben-uhf-ch0", "duali-qde-950"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/drivers/profiles/%s.prof", SK_SOURCE_DIR, names[i]);
        struct sk_diag d;
        struct sk_profile *p;
        int r = load(path, &d, &p);
        if (r != 0) {
            sk_diag_print(&d, stderr);
        }
        assert_int_equal(r, 0);
        assert_string_equal(p->id, names[i]);
        /* the vendor maps are marked as unverified, ours as the reference */
        assert_int_equal(p->status, i == 0 ? SK_PROF_REFERENCE : SK_PROF_UNVERIFIED);
        sk_profile_free(p);
        sk_diag_free(&d);
    }
    /* and the test profiles of the pattern tests */
    static const char *const test_names[] = {"toggle-mailbox", "words-snapshot"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/tests/rfid/profiles/good/%s.prof", SK_SOURCE_DIR,
                 test_names[i]);
        struct sk_diag d;
        struct sk_profile *p;
        int r = load(path, &d, &p);
        if (r != 0) {
            sk_diag_print(&d, stderr);
        }
        assert_int_equal(r, 0);
        sk_profile_free(p);
        sk_diag_free(&d);
    }
}

static void test_generic_epc_contents(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/drivers/profiles/generic-epc.prof", SK_SOURCE_DIR);
    struct sk_diag d;
    struct sk_profile *p;
    assert_int_equal(load(path, &d, &p), 0);
    assert_int_equal(p->pattern, SK_PATTERN_SNAPSHOT);
    int status = sk_profile_block(p, "status"), tags = sk_profile_block(p, "tags");
    assert_true(status >= 0 && tags >= 0);
    assert_int_equal(p->blocks[status].address, 0);
    assert_int_equal(p->blocks[status].count, 8);
    assert_int_equal(p->blocks[tags].address, 0x100);
    assert_int_equal(p->blocks[tags].count, 1280);
    int magic = sk_profile_field(p, "magic");
    assert_true(p->fields[magic].has_expect);
    assert_int_equal(p->fields[magic].expect, 0x534B);
    assert_int_equal(p->snapshot.trigger, sk_profile_field(p, "changes"));
    assert_int_equal(p->snapshot.count, sk_profile_field(p, "count"));
    const struct sk_prof_records *r = &p->records[p->snapshot.records];
    assert_int_equal(r->stride, 40);
    assert_int_equal(r->max, 64);
    assert_int_equal(p->fields[r->epc].len_mode, SK_LEN_FROM_PC);
    assert_int_equal(p->fields[r->rssi].rssi_unit, SK_RSSI_DDBM);
    sk_profile_free(p);
    sk_diag_free(&d);
}

/* Every broken profile: exactly the expected lines, in order. */
static void test_bad_profiles(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/tests/rfid/profiles/bad", SK_SOURCE_DIR);
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dh))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".prof") != 0) {
            continue;
        }
        files++;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char expect[32][400];
        size_t n_expect = 0;
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[600];
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "# expect: ", 10) == 0 && n_expect < 32) {
                line[strcspn(line, "\n")] = '\0';
                snprintf(expect[n_expect++], sizeof(expect[0]), "%s", line + 10);
            }
        }
        fclose(f);
        assert_true(n_expect > 0);
        struct sk_diag d;
        struct sk_profile *p;
        int r = load(path, &d, &p);
        bool ok = r == SK_EPROFILE && p == NULL && d.n == n_expect;
        for (size_t i = 0; ok && i < d.n; i++) {
            /* messages carry the path given; the expectation only the file name */
            const char *got = strstr(d.lines[i], de->d_name);
            ok = got && strcmp(got, expect[i]) == 0;
        }
        if (!ok) {
            print_message("%s: rc %d, got:\n", de->d_name, r);
            sk_diag_print(&d, stderr);
            print_message("expected:\n");
            for (size_t i = 0; i < n_expect; i++) {
                print_message("%s\n", expect[i]);
            }
        }
        sk_diag_free(&d);
        assert_true(ok);
    }
    closedir(dh);
    assert_true(files >= 15);
}

static void test_missing_and_huge_files(void **state)
{
    (void)state;
    struct sk_diag d;
    struct sk_profile *p;
    assert_int_equal(load("/nonexistent/x.prof", &d, &p), -ENOENT);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], "cannot open"));
    sk_diag_free(&d);
    char path[] = "/tmp/sk-prof-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < SK_PROF_MAX_BYTES / 10 + 10; i++) {
        fputs("# comment\n", f);
    }
    fclose(f);
    assert_int_equal(load(path, &d, &p), SK_EPROFILE);
    assert_non_null(strstr(d.lines[0], "a profile may have at most"));
    sk_diag_free(&d);
    /* binary content */
    f = fopen(path, "w");
    fwrite("[profile]\n\0\0\0\n", 1, 14, f);
    fclose(f);
    assert_int_equal(load(path, &d, &p), SK_EPROFILE);
    assert_non_null(strstr(d.lines[0], "NUL"));
    sk_diag_free(&d);
    unlink(path);
}

/* ---- codec ------------------------------------------------------------------------------ */

static struct sk_prof_field field(int type, int offset, int order)
{
    struct sk_prof_field f;
    memset(&f, 0, sizeof(f));
    f.type = type;
    f.offset = offset;
    f.order = order;
    f.block = -1;
    f.records = -1;
    return f;
}

static void test_codec_orders(void **state)
{
    (void)state;
    struct sk_profile p;
    memset(&p, 0, sizeof(p));
    uint16_t regs[2] = {0x1234, 0x5678}, back[2];
    uint8_t b[4];
    sk_prof_regs_to_bytes(SK_ORDER_AB, regs, 2, b);
    assert_memory_equal(b, "\x12\x34\x56\x78", 4);
    sk_prof_bytes_to_regs(SK_ORDER_AB, b, 2, back);
    assert_memory_equal(back, regs, sizeof(regs));
    sk_prof_regs_to_bytes(SK_ORDER_BA, regs, 2, b);
    assert_memory_equal(b, "\x34\x12\x78\x56", 4);
    sk_prof_bytes_to_regs(SK_ORDER_BA, b, 2, back);
    assert_memory_equal(back, regs, sizeof(regs));

    const uint8_t s[4] = {0x11, 0x22, 0x33, 0x44};

    static const struct {
        int type, order;
        int64_t value;
    } cases[] = {
            {SK_FT_U16, SK_ORDER_AB, 0x1122},       {SK_FT_U16, SK_ORDER_BA, 0x2211},
            {SK_FT_U32, SK_ORDER_ABCD, 0x11223344}, {SK_FT_U32, SK_ORDER_CDAB, 0x33441122},
            {SK_FT_U32, SK_ORDER_BADC, 0x22114433}, {SK_FT_U32, SK_ORDER_DCBA, 0x44332211},
            {SK_FT_U8, SK_ORDER_AB, 0x11},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sk_prof_field f = field(cases[i].type, 0, cases[i].order);
        int64_t v;
        assert_int_equal(sk_prof_get_int(&p, &f, s, 4, &v), 0);
        assert_int_equal(v, cases[i].value);
        uint8_t out[4] = {0};
        assert_int_equal(sk_prof_put_int(&p, &f, out, 4, cases[i].value), 0);
        assert_memory_equal(out, s,
                            cases[i].type == SK_FT_U8    ? 1
                            : cases[i].type == SK_FT_U16 ? 2
                                                         : 4);
    }
    /* signed values, masks, bits, offsets from the end, bounds */
    const uint8_t neg[2] = {0xFD, 0x7D}; /* -643 big endian; Turck-style LE: 0x7DFD */
    struct sk_prof_field f = field(SK_FT_I16, 0, SK_ORDER_AB);
    int64_t v;
    sk_prof_get_int(&p, &f, neg, 2, &v);
    assert_int_equal(v, -643);
    f = field(SK_FT_I16, -2, SK_ORDER_BA);
    const uint8_t le[5] = {9, 9, 9, 0xFD, 0xFC}; /* -771 little endian in the last two bytes */
    sk_prof_get_int(&p, &f, le, 5, &v);
    assert_int_equal(v, -771);
    f = field(SK_FT_U16, 0, SK_ORDER_AB);
    f.mask = 0x3FFF;
    const uint8_t rc[2] = {0x80, 0x11}; /* BUSY bit + command 0x0011 */
    sk_prof_get_int(&p, &f, rc, 2, &v);
    assert_int_equal(v, 0x11);
    uint8_t keep[2] = {0x80, 0x00};
    sk_prof_put_int(&p, &f, keep, 2, 0x12);
    assert_memory_equal(keep, "\x80\x12", 2); /* bits outside the mask stay */
    f = field(SK_FT_BIT, 0, SK_ORDER_AB);
    f.bit = 15;
    sk_prof_get_int(&p, &f, rc, 2, &v);
    assert_int_equal(v, 1);
    f = field(SK_FT_U32, 2, SK_ORDER_ABCD);
    assert_int_equal(sk_prof_get_int(&p, &f, s, 4, &v), -ERANGE);
    assert_int_equal(sk_prof_put_int(&p, &f, b, 4, 1), -ERANGE);
    f = field(SK_FT_U16, -3, SK_ORDER_AB);
    assert_int_equal(sk_prof_get_int(&p, &f, s, 2, &v), -ERANGE);
}

static void test_rssi_units(void **state)
{
    (void)state;
    struct sk_prof_field f = field(SK_FT_I16, 0, SK_ORDER_AB);
    f.rssi_unit = SK_RSSI_DDBM;
    assert_int_equal(sk_prof_rssi_cdbm(&f, -652), -6520);
    assert_int_equal(sk_prof_rssi_raw(&f, -6520), -652);
    assert_int_equal(sk_prof_rssi_cdbm(&f, INT16_MIN), INT16_MIN); /* not measured */
    f.rssi_unit = SK_RSSI_DBM;
    assert_int_equal(sk_prof_rssi_cdbm(&f, -65), -6500);
    assert_int_equal(sk_prof_rssi_cdbm(&f, -400), INT16_MIN + 1); /* saturates, stays "measured" */
    f.type = SK_FT_I8;
    assert_int_equal(sk_prof_rssi_cdbm(&f, -128), INT16_MIN);
}

/* Random mutations of every shipped profile: each load succeeds or fails with messages,
 * never crashes (the sanitizer builds run this too). Seed from SK_TEST_SEED, printed. */
static void test_mutations(void **state)
{
    (void)state;
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 31337u;
    print_message("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    srand(seed);
    static const char *const names[] = {"generic-epc", "omron-v780-read-id", "inveo-rfid-ind",
                                        "turck-tben-uhf-ch0", "duali-qde-950"};
    static const char *const tokens[] = {"=",
                                         "[",
                                         "]",
                                         "\n",
                                         "#",
                                         "\"",
                                         "-1",
                                         "0x10000",
                                         "bytes",
                                         "tlv",
                                         "@TODO",
                                         "999999999999",
                                         "block = ",
                                         "len_from_pc = epc",
                                         "record = tag",
                                         " ",
                                         "\0"};
    char dir[] = "/tmp/sk-mut-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int ok = 0, refused = 0;
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/drivers/profiles/%s.prof", SK_SOURCE_DIR, names[n]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char orig[SK_PROF_MAX_BYTES];
        size_t len = fread(orig, 1, sizeof(orig) - 64, f);
        fclose(f);
        char out[600];
        snprintf(out, sizeof(out), "%s/%s.prof", dir, names[n]); /* the id must match */
        for (int iter = 0; iter < 400; iter++) {
            static char buf[SK_PROF_MAX_BYTES + 64];
            memcpy(buf, orig, len);
            size_t blen = len;
            int edits = 1 + rand() % 4;
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)rand() % blen;
                int kind = rand() % 3;
                if (kind == 0) { /* flip a byte */
                    buf[at] = (char)(rand() % 256);
                } else if (kind == 1 && blen > 10) { /* delete a run */
                    size_t k = 1 + (size_t)rand() % 20;
                    if (at + k > blen) {
                        k = blen - at;
                    }
                    memmove(buf + at, buf + at + k, blen - at - k);
                    blen -= k;
                } else { /* insert a token */
                    const char *t = tokens[rand() % (int)(sizeof(tokens) / sizeof(tokens[0]))];
                    size_t k = strlen(t) ? strlen(t) : 1;
                    if (blen + k < sizeof(buf)) {
                        memmove(buf + at + k, buf + at, blen - at);
                        memcpy(buf + at, t, k);
                        blen += k;
                    }
                }
            }
            f = fopen(out, "w");
            assert_non_null(f);
            fwrite(buf, 1, blen, f);
            fclose(f);
            struct sk_diag d;
            struct sk_profile *p;
            int r = load(out, &d, &p);
            assert_true(r == 0 || r == SK_EPROFILE);
            if (r == 0) {
                assert_non_null(p);
                ok++;
            } else {
                assert_null(p);
                assert_true(d.n > 0);
                refused++;
            }
            sk_profile_free(p);
            sk_diag_free(&d);
        }
        unlink(out);
    }
    rmdir(dir);
    print_message("%d mutated profiles loaded, %d refused with messages\n", ok, refused);
    assert_true(refused > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_shipped_profiles_load),
            cmocka_unit_test(test_generic_epc_contents),
            cmocka_unit_test(test_bad_profiles),
            cmocka_unit_test(test_missing_and_huge_files),
            cmocka_unit_test(test_codec_orders),
            cmocka_unit_test(test_rssi_units),
            cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
