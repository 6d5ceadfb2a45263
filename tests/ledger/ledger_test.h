/* SPDX-License-Identifier: MIT */
/* Helpers shared by the ledger tests: a ledger in a fresh directory, raw SQL, file bytes. */
#ifndef SK_LEDGER_TEST_H
#define SK_LEDGER_TEST_H

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
#include "ledger_internal.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"

struct lt {
    char dir[128];
    char path[192];
    struct sk_clock_manual clk;
    struct sk_ledger *l;
};

static inline struct sk_ledger *lt_open_flags(struct lt *t, unsigned flags)
{
    struct sk_ledger_opts o = {.path = t->path,
                               .store_id = "store-1",
                               .device_id = "dev-1",
                               .flags = flags,
                               .clock = &t->clk.clock};
    char msg[512];
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
    if (r < 0) {
        fprintf(stderr, "open: %d %s\n", r, msg);
    }
    assert_int_equal(r, 0);
    return l;
}

static inline void lt_setup(struct lt *t)
{
    memset(t, 0, sizeof(*t));
    sk_test_tmpdir(t->dir, sizeof(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/ledger.db", t->dir);
    sk_clock_manual_init(&t->clk, 1000000, 1700000000000000LL);
    t->l = lt_open_flags(t, SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_OWNER);
}

static inline void lt_teardown(struct lt *t)
{
    sk_ledger_close(t->l);
    t->l = NULL;
    sk_test_rmdir(t->dir);
}

/* One integer from SQL on the ledger's connection. */
static inline int64_t lt_int(struct sk_ledger *l, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(ledger_test_db(l), sql, -1, &s, NULL), SQLITE_OK);
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* PRAGMA integrity_check answers "ok" (it reports problems as rows, not as an error). */
static inline void lt_assert_integrity(struct sk_ledger *l)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(ledger_test_db(l), "PRAGMA integrity_check", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
}

/* Opens path with the given flags; returns the error and copies the message. */
static inline int lt_try_open(const char *path,
                              const char *store,
                              const char *device,
                              unsigned flags,
                              char *msg,
                              size_t size)
{
    struct sk_ledger_opts o = {
            .path = path, .store_id = store, .device_id = device, .flags = flags};
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&o, msg, size, &l);
    sk_ledger_close(l);
    return r;
}

/* Reads a whole file into a malloc'd buffer. */
static inline unsigned char *lt_slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *ret_len = (size_t)n;
    return b;
}

#endif
