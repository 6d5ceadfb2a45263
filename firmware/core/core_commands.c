/* SPDX-License-Identifier: MIT */
/* Commands from the cloud in the core: applied exactly once (the request id recorded with its
 * outcome in the same transaction), their replies held until that transaction commits. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core_internal.h"
#include "storekeeper/buf.h"
#include "storekeeper/clock.h"
#include "storekeeper/command.h"
#include "storekeeper/error.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

static int
reject(struct sk_cmd_result *r, enum sk_cmd_error_code code, const char *field, const char *message)
{
    r->status = SK_CMD_REJECTED;
    sk_cmd_fail(&r->error, code, field, "%s", message);
    snprintf(r->detail, sizeof(r->detail), "%s", r->error.message);
    return 0;
}

/* Keeps a command's outcome until its transaction commits. Returns 0 or -ENOMEM. */
static int queue_reply(struct sk_core *c,
                       const struct sk_obs *obs,
                       const struct sk_cmd *cmd,
                       const struct sk_cmd_result *res)
{
    if (!c->command_listener) {
        return 0;
    }
    /* one reply per command of the open transaction: a batch holds at most a queue's worth */
    struct core_reply *p =
            sk_grow(c->replies, &c->cap_replies, c->n_replies + 1, sizeof(*p), 1 << 20);
    if (!p) {
        return -ENOMEM;
    }
    c->replies = p;
    struct core_reply *q = &c->replies[c->n_replies];
    memset(q, 0, sizeof(*q));
    q->obs = *obs;
    struct sk_obs_command *oc = &q->obs.u.command;
    oc->payload = NULL;
    oc->response_topic =
            obs->u.command.response_topic ? strdup(obs->u.command.response_topic) : NULL;
    oc->correlation =
            obs->u.command.correlation_len ? malloc(obs->u.command.correlation_len) : NULL;
    if ((obs->u.command.response_topic && !oc->response_topic) ||
        (obs->u.command.correlation_len && !oc->correlation)) {
        sk_obs_release(&q->obs);
        return -ENOMEM;
    }
    if (oc->correlation) {
        memcpy(oc->correlation, obs->u.command.correlation, obs->u.command.correlation_len);
    }
    q->cmd.kind = cmd->kind;
    if (cmd->kind == SK_CMD_OUTBOX_RESEND) {
        q->cmd.u.resend = cmd->u.resend; /* the link goes back to from_seq */
    }
    memcpy(q->cmd.request_id, cmd->request_id, sizeof(q->cmd.request_id));
    memcpy(q->cmd.identity, cmd->identity, sizeof(q->cmd.identity));
    q->res = *res;
    c->n_replies++;
    return 0;
}

size_t sk_core_replies_mark(const struct sk_core *core)
{
    return core->n_replies;
}

void sk_core_replies_undo(struct sk_core *core, size_t mark)
{
    while (core->n_replies > mark) {
        sk_obs_release(&core->replies[--core->n_replies].obs);
    }
}

void sk_core_replies_flush(struct sk_core *core)
{
    for (size_t i = 0; i < core->n_replies; i++) {
        struct core_reply *q = &core->replies[i];
        if (core->command_listener) {
            core->command_listener(core->command_ctx, &q->obs, &q->cmd, &q->res);
        }
        sk_obs_release(&q->obs);
    }
    core->n_replies = 0;
}

/* Who sent a command: the topic's identity (the broker's ACL vouches for it), else the
 * payload's (or nobody). Request ids count per sender. */
static const char *sender(const struct sk_obs_command *oc, const struct sk_cmd *cmd)
{
    return (oc->flags & SK_CMD_OBS_FROM_TOPIC) ? oc->identity : cmd->identity;
}

/*
 * Exactly once: a command with a request_id applied before by the same sender is answered
 * with the outcome recorded then, and not applied again; one applied now is recorded with its
 * outcome in the same transaction. A request id reused for another command is refused. Busy
 * is not recorded: it asks the sender to try again, and the retry must be applied.
 */
static int apply_once(struct sk_core *c,
                      const struct sk_obs_command *oc,
                      const struct sk_cmd *cmd,
                      struct sk_cmd_result *res)
{
    if (!c->ledger || !cmd->request_id[0]) {
        return sk_core_command(c, cmd, res);
    }
    const char *who = sender(oc, cmd);
    uint64_t fp = sk_cmd_fingerprint(oc->name, oc->payload, oc->payload ? oc->payload_len : 0);
    struct sk_ledger_request rec;
    int found = sk_ledger_request_get(c->ledger, who, cmd->request_id, &rec);
    if (found < 0) {
        return found;
    }
    if (found) {
        char when[40];
        sk_format_time_utc(rec.recorded_us, when, sizeof(when));
        if (strcmp(rec.command, oc->name) != 0 || rec.fingerprint != fp) {
            char msg[192];
            snprintf(msg, sizeof(msg),
                     "request_id was used for another %s command at %s; a new request needs a "
                     "new request_id",
                     rec.command, when);
            return reject(res, SK_CMD_ERR_INVALID, "request_id", msg);
        }
        res->repeat = true;
        res->first_wall_us = rec.recorded_us;
        if (sk_cmd_result_from_json(rec.result, res) < 0) {
            return reject(res, SK_CMD_ERR_FAILED, "request_id",
                          "this request was applied before, but its recorded reply cannot be "
                          "read; it is not applied again");
        }
        res->repeat = true;
        sk_log(SK_LOG_INFO, "core", NULL,
               "command %s request %s%s%s: applied at %s; answered again, not applied again",
               oc->name, cmd->request_id, who[0] ? " from " : "", who, when);
        return 0;
    }
    int r = sk_core_command(c, cmd, res);
    if (r < 0 || (res->status == SK_CMD_REJECTED && res->error.code == SK_CMD_ERR_BUSY)) {
        return r;
    }
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.command, sizeof(rec.command), "%s", oc->name);
    rec.fingerprint = fp;
    char *text = sk_cmd_result_to_json(res);
    if (!text) {
        return -ENOMEM;
    }
    snprintf(rec.result, sizeof(rec.result), "%s", text);
    free(text);
    return sk_ledger_request_put(c->ledger, who, cmd->request_id, &rec,
                                 c->cfg->mqtt.request_keep_max);
}

int core_handle_command(struct sk_core *c, const struct sk_obs *obs)
{
    const struct sk_obs_command *oc = &obs->u.command;
    struct sk_cmd cmd;
    struct sk_cmd_result res;
    memset(&res, 0, sizeof(res));
    res.count = -1;
    res.missing = -1;
    size_t max =
            c->cfg->mqtt.command_max_bytes > 0 ? (size_t)c->cfg->mqtt.command_max_bytes : 65536;
    int r = 0;
    if (sk_cmd_parse(oc->name, oc->payload, oc->payload ? oc->payload_len : 0, max, c->cfg, &cmd,
                     &res.error) < 0) {
        /* Only a recorded log replayed without the link gets here: the link answers these. */
        res.status = SK_CMD_REJECTED;
        snprintf(res.detail, sizeof(res.detail), "%s", res.error.message);
    } else if (!sk_cmd_changes_state(cmd.kind) || cmd.kind == SK_CMD_CONFIG_RELOAD) {
        sk_cmd_clear(&cmd);
        return 0; /* answered by the link (config_reload: by the runtime) */
    } else {
        r = apply_once(c, oc, &cmd, &res);
    }
    if (r == 0) {
        r = queue_reply(c, obs, &cmd, &res);
    }
    sk_cmd_clear(&cmd);
    return r;
}

void sk_core_set_command_listener(struct sk_core *core, sk_core_command_cb cb, void *ctx)
{
    core->command_listener = cb;
    core->command_ctx = ctx;
}

static int command_bind(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    const char *sid = cmd->u.bind.session_id[0] ? cmd->u.bind.session_id : NULL;
    int64_t expires = sk_clock_mono_us(c->clock) + (int64_t)cmd->u.bind.expires_s * 1000000;
    int persons = cmd->u.bind.persons > 0 ? cmd->u.bind.persons : 1;
    int e = sk_fusion_bind(c->fusion, cmd->u.bind.token, sid, persons, expires);
    if (e == -ENOENT) {
        return reject(r, SK_CMD_ERR_INVALID, "session_id", "no open session has this id");
    }
    if (e == -ENOSPC) {
        return reject(r, SK_CMD_ERR_BUSY, NULL,
                      "as many session binds as the fusion engine holds are waiting; try again "
                      "when one was used or expired");
    }
    if (e < 0) {
        return e;
    }
    if (sid) {
        r->status = SK_CMD_DONE;
        snprintf(r->detail, sizeof(r->detail), "account attached to session %s", sid);
    } else {
        r->status = SK_CMD_QUEUED;
        r->expires_wall_us = sk_clock_wall_us(c->clock) + (int64_t)cmd->u.bind.expires_s * 1000000;
        if (persons > 1) {
            snprintf(r->detail, sizeof(r->detail),
                     "held for the next %d shoppers who enter, at most %d s", persons,
                     cmd->u.bind.expires_s);
        } else {
            snprintf(r->detail, sizeof(r->detail),
                     "held for the next shopper who enters, at most %d s", cmd->u.bind.expires_s);
        }
    }
    sk_log(SK_LOG_INFO, "core", NULL, "session bind %s",
           sid ? "applied" : "held for the next entry");
    return 0;
}

static int command_restock(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    const char *names[SK_CMD_SHELVES];
    size_t n = cmd->u.restock.all ? 0 : cmd->u.restock.n_shelves;
    for (size_t i = 0; i < n; i++) {
        names[i] = cmd->u.restock.shelves[i];
    }
    int e = sk_fusion_restock_done(c->fusion, names, n, cmd->u.restock.restock_id);
    if (e == -ENOENT) {
        return reject(r, SK_CMD_ERR_INVALID, "shelves",
                      "a shelf is not known to the fusion engine");
    }
    if (e < 0) {
        return e; /* its event could not be recorded: the transaction fails and is retried */
    }
    r->status = SK_CMD_DONE;
    r->count = (int64_t)(n ? n : c->cfg->n_shelves);
    snprintf(r->detail, sizeof(r->detail),
             "restock session ended on %s; what arrived is reported as a restock event",
             n ? "the listed shelves" : "every shelf");
    sk_log(SK_LOG_INFO, "core", NULL, "restock done on %zu shelf(ves)%s%s", (size_t)r->count,
           cmd->u.restock.restock_id[0] ? ", id " : "", cmd->u.restock.restock_id);
    return 0;
}

/* GTIN-8/12/13/14 as GTIN-14 (leading zeros), as the ledger stores it. */
static void gtin14(const char *in, char out[15])
{
    size_t n = strlen(in);
    memset(out, '0', 14);
    memcpy(out + 14 - n, in, n);
    out[14] = '\0';
}

static int command_catalog(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    if (!c->ledger) {
        return reject(r, SK_CMD_ERR_UNAVAILABLE, NULL, "this runtime has no ledger");
    }
    /* All products or none: a savepoint of their own inside the observation's transaction. */
    int e = sk_ledger_begin(c->ledger);
    if (e < 0) {
        return e;
    }
    size_t inserted = 0, updated = 0;
    for (size_t i = 0; i < cmd->u.catalog.n; i++) {
        const struct sk_cmd_product *p = &cmd->u.catalog.products[i];
        char field[64];
        struct sk_product prod;
        memset(&prod, 0, sizeof(prod));
        int have = sk_ledger_product_get(c->ledger, p->sku, &prod);
        if (have < 0) {
            sk_ledger_rollback(c->ledger);
            return have;
        }
        if (!have && (p->price_minor < 0 || !p->currency[0])) {
            snprintf(field, sizeof(field), "products[%zu].price_minor", i);
            sk_ledger_rollback(c->ledger);
            char msg[160];
            snprintf(msg, sizeof(msg), "%s is required for a new product (with currency)", field);
            return reject(r, SK_CMD_ERR_INVALID, field, msg);
        }
        snprintf(prod.sku, sizeof(prod.sku), "%s", p->sku);
        snprintf(prod.name, sizeof(prod.name), "%s", p->name);
        if (p->price_minor >= 0) {
            prod.price_minor = p->price_minor;
            snprintf(prod.currency, sizeof(prod.currency), "%s", p->currency);
        }
        if (p->gtin[0]) {
            gtin14(p->gtin, prod.gtin);
        }
        if (p->restock_threshold >= 0) {
            prod.restock_threshold = p->restock_threshold;
        }
        if (p->restock_target >= 0) {
            prod.restock_target = p->restock_target;
        }
        e = sk_ledger_product_put(c->ledger, &prod);
        if (e == -EEXIST || e == -EINVAL) {
            snprintf(field, sizeof(field), "products[%zu].%s", i, e == -EEXIST ? "gtin" : "sku");
            char msg[192];
            snprintf(msg, sizeof(msg), "%s: %s", field, sk_ledger_errmsg(c->ledger));
            sk_ledger_rollback(c->ledger);
            return reject(r, SK_CMD_ERR_INVALID, field, msg);
        }
        if (e < 0) {
            sk_ledger_rollback(c->ledger);
            return e;
        }
        if (have) {
            updated++;
        } else {
            inserted++;
        }
    }
    if ((e = sk_ledger_commit(c->ledger)) < 0) {
        return e;
    }
    r->status = SK_CMD_DONE;
    r->count = (int64_t)(inserted + updated);
    snprintf(r->detail, sizeof(r->detail), "%zu product(s) added, %zu updated", inserted, updated);
    sk_log(SK_LOG_INFO, "core", NULL, "catalog: %zu product(s) added, %zu updated by a command",
           inserted, updated);
    return 0;
}

/* One outbox_resend taken from a bucket of mqtt.resend_rate_max per minute (holding as many):
 * what it makes pending again leaves as backlog, but a cloud that asks in a loop must not keep
 * the link resending. False when the bucket is empty. */
static bool resend_token(struct sk_core *c)
{
    double rate = c->cfg->mqtt.resend_rate_max > 0 ? c->cfg->mqtt.resend_rate_max : 12;
    return sk_bucket_take(&c->resend_bucket, sk_clock_mono_us(c->clock), rate, 60e6, rate);
}

/*
 * The cloud lost events after the broker (a bridge, a consumer without a persistent session)
 * and asks for a range again. The delivered rows of the range become pending in this
 * transaction; once it commits the link sends them as backlog (same id, same payload). Rows
 * still pending are on their way already; rows pruned from the outbox are gone, and the reply
 * says how many.
 */
static int command_resend(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    if (!c->ledger) {
        return reject(r, SK_CMD_ERR_UNAVAILABLE, NULL, "this runtime has no ledger");
    }
    struct sk_ledger_info info;
    int e = sk_ledger_get_info(c->ledger, &info);
    if (e < 0) {
        return e;
    }
    char msg[192];
    if (cmd->u.resend.ledger_id[0] && strcmp(cmd->u.resend.ledger_id, info.ledger_id) != 0) {
        snprintf(msg, sizeof(msg),
                 "this device's events count in ledger %s; seqs of ledger %.40s are not here",
                 info.ledger_id, cmd->u.resend.ledger_id);
        return reject(r, SK_CMD_ERR_INVALID, "ledger_id", msg);
    }
    struct sk_outbox_stats st;
    if ((e = sk_ledger_outbox_stats(c->ledger, &st)) < 0) {
        return e;
    }
    int64_t from = cmd->u.resend.from_seq, to = cmd->u.resend.to_seq;
    if (from > st.last_seq) {
        snprintf(msg, sizeof(msg), "from_seq %lld is beyond the newest event, seq %lld",
                 (long long)from, (long long)st.last_seq);
        return reject(r, SK_CMD_ERR_INVALID, "from_seq", msg);
    }
    if (!resend_token(c)) {
        snprintf(msg, sizeof(msg),
                 "more than %d outbox_resend commands a minute (mqtt.resend_rate_max); ask "
                 "again later",
                 c->cfg->mqtt.resend_rate_max);
        return reject(r, SK_CMD_ERR_BUSY, NULL, msg);
    }
    if (to > st.last_seq) {
        to = st.last_seq;
    }
    struct sk_outbox_resend res;
    if ((e = sk_ledger_outbox_resend(c->ledger, from, to, &res)) < 0) {
        return e;
    }
    r->status = SK_CMD_DONE;
    r->count = res.requeued + res.pending;
    r->missing = res.missing;
    if (res.missing > 0) {
        snprintf(r->detail, sizeof(r->detail),
                 "%lld event(s) of seqs %lld..%lld are sent again (%lld were on their way); %lld "
                 "are no longer kept (ledger.outbox_keep_delivered_s, _max)",
                 (long long)r->count, (long long)from, (long long)to, (long long)res.pending,
                 (long long)res.missing);
    } else {
        snprintf(r->detail, sizeof(r->detail),
                 "%lld event(s) of seqs %lld..%lld are sent again (%lld were on their way)",
                 (long long)r->count, (long long)from, (long long)to, (long long)res.pending);
    }
    sk_log(SK_LOG_NOTICE, "core", NULL, "outbox_resend: %s", r->detail);
    return 0;
}

int sk_core_command(struct sk_core *core,
                    const struct sk_cmd *cmd,
                    struct sk_cmd_result *ret_result)
{
    memset(ret_result, 0, sizeof(*ret_result));
    ret_result->count = -1;
    ret_result->missing = -1;
    switch (cmd->kind) {
    case SK_CMD_SESSION_BIND:
        return command_bind(core, cmd, ret_result);
    case SK_CMD_RESTOCK_DONE:
        return command_restock(core, cmd, ret_result);
    case SK_CMD_CATALOG_UPSERT:
        return command_catalog(core, cmd, ret_result);
    case SK_CMD_OUTBOX_RESEND:
        return command_resend(core, cmd, ret_result);
    default:
        return reject(ret_result, SK_CMD_ERR_INVALID, NULL, "not a command the core applies");
    }
}
