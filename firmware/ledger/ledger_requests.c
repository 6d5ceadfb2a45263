/* SPDX-License-Identifier: MIT */
/* The replies to cloud commands, by sender and request id: what makes their effects happen once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"

/*
 * DESIGN
 * MQTT QoS 1 delivers a command at least once, and a cloud that lost a reply sends the command
 * again; applying it again would queue a second bind or end a second restock. So the core
 * writes the reply of every state-changing command that carries a request_id into `requests`,
 * in the same transaction as the command's effects: either both are durable or neither is.
 * The key is (identity, request_id): two senders may use the same ids. The fingerprint of the
 * payload tells a true repeat from a request id reused for another command.
 *
 * Bounds: at most keep_max rows (checked when one is added, the oldest go first) and none
 * older than the configured age (sk_ledger_request_expire, from the runtime's maintenance).
 */

static bool text_ok(const char *s, size_t max)
{
    return s && strlen(s) <= max;
}

int sk_ledger_request_get(struct sk_ledger *l,
                          const char *identity,
                          const char *request_id,
                          struct sk_ledger_request *ret)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_REQUEST_GET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, identity ? identity : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, request_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        struct sk_ledger_request r;
        memset(&r, 0, sizeof(r));
        const char *cmd = (const char *)sqlite3_column_text(s, 0);
        const char *res = (const char *)sqlite3_column_text(s, 2);
        snprintf(r.command, sizeof(r.command), "%s", cmd ? cmd : "");
        r.fingerprint = (uint64_t)sqlite3_column_int64(s, 1);
        snprintf(r.result, sizeof(r.result), "%s", res ? res : "");
        r.recorded_us = sqlite3_column_int64(s, 3);
        sqlite3_reset(s);
        *ret = r;
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading a command request");
}

int sk_ledger_request_put(struct sk_ledger *l,
                          const char *identity,
                          const char *request_id,
                          const struct sk_ledger_request *req,
                          int64_t keep_max)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!text_ok(identity, 63) || !request_id || !request_id[0] || !text_ok(request_id, 64) ||
        !req->command[0] || !text_ok(req->result, SK_LEDGER_REQUEST_RESULT_MAX - 1)) {
        return ledger_failf(l, -EINVAL, "command request: bad identity, request id or result");
    }
    int r = ledger_fault(l, "request");
    if (r < 0) {
        return r;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_REQUEST_PUT);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, req->command, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)req->fingerprint);
    sqlite3_bind_text(s, 5, req->result, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, req->recorded_us > 0 ? req->recorded_us : ledger_now_us(l));
    r = ledger_step_done(l, s, "recording a command request");
    sqlite3_clear_bindings(s);
    if (r < 0 || keep_max <= 0) {
        return r;
    }
    s = ledger_stmt(l, ST_REQUEST_TRIM);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, keep_max - 1);
    return ledger_step_done(l, s, "bounding the command requests");
}

int sk_ledger_request_expire(struct sk_ledger *l, int64_t keep_s)
{
    if (l->aborted) {
        return l->abort_err;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_REQUEST_EXPIRE);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, ledger_now_us(l) - keep_s * 1000000);
    return ledger_step_changes(l, s, "expiring command requests");
}
