/* SPDX-License-Identifier: MIT */
/* Durable component state in the ledger: JSON texts under keys, in the caller's transaction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_internal.h"

/*
 * The fusion engine keeps its sessions, carts and undecided decisions here, so they commit
 * or roll back with the movements and events they belong to. The texts live in the meta
 * table under "state:" + key (no schema change); a key is 1..127 characters of
 * [A-Za-z0-9._:/-]. These statements run a few times per observation at most, so they are
 * prepared per call instead of joining the ledger's statement cache.
 */

#define STATE_PREFIX "state:"

static bool key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 127) {
        return false;
    }
    for (const char *p = key; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '/' || c == '-')) {
            return false;
        }
    }
    return true;
}

static int run(struct sk_ledger *l, const char *sql, const char *key, const char *text)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(l->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "preparing a state statement");
    }
    char full[sizeof(STATE_PREFIX) + 128];
    snprintf(full, sizeof(full), STATE_PREFIX "%s", key);
    sqlite3_bind_text(s, 1, full, -1, SQLITE_TRANSIENT);
    if (text) {
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "writing state");
}

int sk_ledger_state_put(struct sk_ledger *l, const char *key, const char *text)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!key_ok(key) || (text && strlen(text) > SK_LEDGER_STATE_MAX)) {
        return ledger_failf(l, -EINVAL, "state: bad key or text too large");
    }
    int r = ledger_fault(l, "state");
    if (r < 0) {
        return ledger_failf(l, r, "state: injected failure");
    }
    if (!text) {
        return run(l, "DELETE FROM meta WHERE key = ?1", key, NULL);
    }
    return run(l,
               "INSERT INTO meta (key, value) VALUES (?1, ?2) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               key, text);
}

int sk_ledger_state_list(struct sk_ledger *l, const char *prefix, sk_state_cb cb, void *ctx)
{
    if (prefix && strlen(prefix) > 127) {
        return -EINVAL;
    }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(l->db,
                                "SELECT substr(key, 7), value FROM meta WHERE key >= ?1 AND "
                                "key < ?1 || char(1114111) ORDER BY key",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "preparing a state query");
    }
    char full[sizeof(STATE_PREFIX) + 128];
    snprintf(full, sizeof(full), STATE_PREFIX "%s", prefix ? prefix : "");
    sqlite3_bind_text(s, 1, full, -1, SQLITE_TRANSIENT);
    int n = 0, r = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);
        const char *text = (const char *)sqlite3_column_text(s, 1);
        n++;
        if ((r = cb(key ? key : "", text ? text : "", ctx)) != 0) {
            break;
        }
    }
    sqlite3_finalize(s);
    if (r != 0) {
        return r;
    }
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading state");
    }
    return n;
}

int sk_ledger_backup(struct sk_ledger *l, const char *dest_path)
{
    sqlite3 *dest = NULL;
    int rc = sqlite3_open_v2(dest_path, &dest,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dest, "main", l->db, "main");
        if (b) {
            rc = sqlite3_backup_step(b, -1);
            sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        } else {
            rc = sqlite3_errcode(dest);
        }
    }
    sqlite3_close(dest);
    if (rc != SQLITE_OK) {
        unlink(dest_path);
        return ledger_failf(l, ledger_sqlite_err(rc), "copying the ledger to %s: %s", dest_path,
                            sqlite3_errstr(rc));
    }
    return 0;
}
