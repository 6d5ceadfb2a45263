/* SPDX-License-Identifier: MIT */
/* Fusion meets the ledger: the catalog it reads, the movements and events it writes, its state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "storekeeper/clock.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/names.h"

/*
 * DESIGN
 * Every fact the engine establishes becomes, in the transaction of the observation (or tick)
 * that caused it:
 *
 *   fact                     movements                              outbox event
 *   session opened/joined/.. sessions row opened                    event/session
 *   pickup                   pickup (shelf -1, session)             event/pickup
 *   unattributed removal     shrink (shelf -1)                      event/pickup, session null
 *   staff removal            adjustment -1                          event/pickup, session null
 *   put-back from a cart     put_back (shelf +1, session)           event/put_back
 *   return after checkout    put_back (session it was sold in)      event/put_back
 *   moved between shelves    misplaced from -> to (or pickup +      event/put_back
 *                            put_back when both are its home)
 *   misplaced                (the put-back's movements)             event/discrepancy misplaced
 *   restock arrival          restock (shelf +1)                     (event/restock at its end)
 *   checkout                 sale per item; sessions row closed     event/checkout
 *   cart abandoned           shrink per item; sessions row closed   event/cart_abandoned
 *   exit without checkout    -                                      event/exit_without_checkout
 *
 * Items whose tag maps to no product get no movement (the ledger only counts products) but
 * appear in the events. A movement the ledger refuses for its content (-EINVAL, -ENOENT: a
 * shelf missing from its shelves table) is logged and skipped; the event still goes out.
 * Any other failure (disk full, I/O) fails the fact and with it the observation: the
 * runtime rolls back and retries, and the engine's state is restored from the ledger.
 *
 * The engine's durable state lives in the ledger too (sk_ledger_state_put): "fusion/core"
 * and one "fusion/session/<id>" per open session, written after every observation that
 * changed them, in the same transaction. Remembered sales (for returns) are rebuilt from the
 * sale and shrink movements of the last fusion.sold_memory_s.
 */

#define STATE_PREFIX "fusion/"

static struct sk_complain move_complaint = SK_COMPLAIN_INIT;

/* ---- catalog ------------------------------------------------------------------------------ */

static int cat_product(void *ctx, const uint8_t *epc, size_t len, struct sk_fusion_product *ret)
{
    struct sk_ledger *l = ctx;
    char sku[SK_LEDGER_SKU_MAX];
    int r = sk_ledger_sku_for_epc(l, epc, len, sku, sizeof(sku));
    if (r <= 0) {
        return -ENOENT;
    }
    struct sk_product p;
    if (sk_ledger_product_get(l, sku, &p) != 1) {
        return -ENOENT;
    }
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->sku, sizeof(ret->sku), "%s", p.sku);
    snprintf(ret->gtin, sizeof(ret->gtin), "%s", p.gtin);
    snprintf(ret->name, sizeof(ret->name), "%s", p.name);
    snprintf(ret->currency, sizeof(ret->currency), "%s", p.currency);
    ret->price_minor = p.price_minor;
    ret->restock_threshold = p.restock_threshold;
    ret->restock_target = p.restock_target;
    return 0;
}

struct plano_q {
    const char *shelf;
    bool any, here;
};

static int plano_row(const struct sk_stock_row *row, void *ctx)
{
    struct plano_q *q = ctx;
    if (row->planned) {
        q->any = true;
        q->here |= strcmp(row->shelf, q->shelf) == 0;
    }
    return 0;
}

static int cat_planogram(void *ctx, const char *shelf, const char *sku)
{
    struct plano_q q = {.shelf = shelf};
    if (sk_ledger_stock(ctx, NULL, sku, plano_row, &q) < 0 || !q.any) {
        return -ENOENT;
    }
    return q.here ? 1 : 0;
}

static int cat_expected(void *ctx, const char *shelf, const char *sku)
{
    int64_t q = 0;
    if (sk_ledger_stock_get(ctx, shelf, sku, &q) < 0) {
        return -EIO;
    }
    return q > INT32_MAX ? INT32_MAX : (int)q;
}

struct sk_fusion_catalog sk_fusion_ledger_catalog(struct sk_ledger *l)
{
    struct sk_fusion_catalog c = {
            .product = cat_product, .planogram = cat_planogram, .expected = cat_expected, .ctx = l};
    return c;
}

/* ---- payload pieces ----------------------------------------------------------------------- */

static void add_time(cJSON *o, const char *key, int64_t wall_us)
{
    if (wall_us > 0) {
        char buf[32];
        cJSON_AddStringToObject(o, key, sk_format_time_utc(wall_us, buf, sizeof(buf)));
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

static void add_opt_str(cJSON *o, const char *key, const char *v)
{
    if (v && v[0]) {
        cJSON_AddStringToObject(o, key, v);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

static void epc_hex(const struct sk_fusion_line *l, char *buf, size_t size)
{
    sk_epc_to_hex(l->epc, l->epc_len, buf, size);
}

/* Confidence with two decimals: payloads stay stable and readable. */
static double round2(double v)
{
    return (double)(int64_t)(v * 100.0 + 0.5) / 100.0;
}

static cJSON *evidence_json(const struct sk_fusion_evidence *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "shelf", e->shelf);
    cJSON_AddStringToObject(o, "reader", e->reader);
    cJSON_AddNumberToObject(o, "antenna", e->antenna);
    add_time(o, "removed", e->removed_wall_us);
    add_time(o, "departed", e->departed_wall_us);
    cJSON_AddNumberToObject(o, "reads", e->reads);
    add_time(o, "removed_until", e->missed_wall_us);
    if (e->track_id) {
        cJSON_AddStringToObject(o, "camera", e->camera);
        cJSON_AddNumberToObject(o, "track", e->track_id);
        cJSON_AddStringToObject(o, "rule", sk_fusion_rule_name(e->rule));
        cJSON_AddNumberToObject(o, "score", round2(e->score));
        cJSON_AddNumberToObject(o, "confidence", round2(e->confidence));
        cJSON_AddNumberToObject(o, "candidates", e->candidates);
        cJSON_AddBoolToObject(o, "lost_track", e->lost_track);
        if (e->runner_track) {
            cJSON *r = cJSON_AddObjectToObject(o, "runner_up");
            add_opt_str(r, "session_id", e->runner_session);
            cJSON_AddNumberToObject(r, "track", e->runner_track);
            cJSON_AddNumberToObject(r, "score", round2(e->runner_score));
        } else {
            cJSON_AddNullToObject(o, "runner_up");
        }
        if (e->reach >= 0) {
            cJSON_AddNumberToObject(o, "reach", round2(e->reach));
        } else {
            cJSON_AddNullToObject(o, "reach");
        }
        cJSON_AddBoolToObject(o, "contested", (e->doubt & SK_DOUBT_CONTESTED) != 0);
        if (e->alike >= 2) {
            cJSON_AddNumberToObject(o, "interchangeable", e->alike);
        }
        cJSON *doubts = cJSON_AddArrayToObject(o, "doubts");
        static const char *const doubt_names[] = {"contested", "unseen_taker", "camera_gap",
                                                  "reader_outage"};
        for (size_t k = 0; k < sizeof(doubt_names) / sizeof(doubt_names[0]); k++) {
            if (e->doubt & (1u << k)) {
                cJSON_AddItemToArray(doubts, cJSON_CreateString(doubt_names[k]));
            }
        }
        cJSON *cands = cJSON_AddArrayToObject(o, "candidate_list");
        for (size_t k = 0; k < e->n_cands && k < SK_FUSION_CANDS_MAX; k++) {
            const struct sk_fusion_candidate *c = &e->cands[k];
            cJSON *co = cJSON_CreateObject();
            add_opt_str(co, "session_id", c->session);
            cJSON_AddNumberToObject(co, "track", c->track);
            cJSON_AddNumberToObject(co, "score", round2(c->score));
            cJSON_AddNumberToObject(co, "reach", round2(c->reach));
            cJSON_AddBoolToObject(co, "charged", (c->flags & SK_CAND_CHARGED) != 0);
            cJSON_AddBoolToObject(co, "present", (c->flags & SK_CAND_PRESENT) != 0);
            cJSON_AddBoolToObject(co, "reached", (c->flags & SK_CAND_REACHED) != 0);
            cJSON_AddBoolToObject(co, "ruled_out", (c->flags & SK_CAND_RULED_OUT) != 0);
            if (c->flags & SK_CAND_ALIKE) {
                cJSON_AddBoolToObject(co, "alike", true);
            }
            cJSON_AddItemToArray(cands, co);
        }
    }
    add_time(o, "exit_seen", e->exit_seen_wall_us);
    return o;
}

/* Lines charged to another session for which this one could not be ruled out. */
static cJSON *contested_json(const struct sk_fusion_session *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t k = 0; arr && k < s->n_contested; k++) {
        const struct sk_fusion_line *l = &s->contested[k];
        cJSON *it = cJSON_CreateObject();
        char hex[SK_EPC_HEX_MAX];
        epc_hex(l, hex, sizeof(hex));
        cJSON_AddStringToObject(it, "epc", hex);
        cJSON_AddStringToObject(it, "sku", l->product.sku);
        cJSON_AddStringToObject(it, "name", l->known ? l->product.name : "");
        const char *charged = "";
        for (size_t c = 0; c < l->ev.n_cands && c < SK_FUSION_CANDS_MAX; c++) {
            if (l->ev.cands[c].flags & SK_CAND_CHARGED) {
                charged = l->ev.cands[c].session;
            }
        }
        add_opt_str(it, "charged_to", charged);
        cJSON_AddItemToObject(it, "evidence", evidence_json(&l->ev));
        cJSON_AddItemToArray(arr, it);
    }
    return arr;
}

/* The item fields every item-level event shares. */
static void item_fields(cJSON *o, const struct sk_fusion_line *l)
{
    char hex[SK_EPC_HEX_MAX];
    epc_hex(l, hex, sizeof(hex));
    cJSON_AddStringToObject(o, "epc", hex);
    cJSON_AddStringToObject(o, "sku", l->product.sku);
    add_opt_str(o, "gtin", l->product.gtin);
    cJSON_AddStringToObject(o, "name", l->known ? l->product.name : "");
    if (l->known) {
        cJSON_AddNumberToObject(o, "unit_price_minor", (double)l->product.price_minor);
        cJSON_AddStringToObject(o, "currency", l->product.currency);
    } else {
        cJSON_AddNullToObject(o, "unit_price_minor");
        cJSON_AddNullToObject(o, "currency");
    }
    cJSON_AddBoolToObject(o, "known", l->known);
}

/*
 * Cart lines grouped by sku (checkout, abandoned cart, unpaid exit), with totals. Returns the
 * items array; *total is -1 when prices are missing or currencies mixed.
 */
static cJSON *items_json(const struct sk_fusion_line *lines,
                         size_t n,
                         int64_t *ret_total,
                         const char **ret_currency,
                         double *ret_min_conf)
{
    cJSON *arr = cJSON_CreateArray();
    bool *done = calloc(n ? n : 1, sizeof(*done));
    int64_t total = 0;
    const char *currency = NULL;
    bool total_ok = true;
    double min_conf = 1.0;
    for (size_t i = 0; done && i < n; i++) {
        if (done[i]) {
            continue;
        }
        const struct sk_fusion_line *l = &lines[i];
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "sku", l->product.sku);
        add_opt_str(it, "gtin", l->product.gtin);
        cJSON_AddStringToObject(it, "name", l->known ? l->product.name : "");
        cJSON *epcs = cJSON_CreateArray();
        cJSON *evs = cJSON_CreateArray();
        int qty = 0;
        double conf = 1.0;
        for (size_t k = i; k < n; k++) {
            if (done[k] || strcmp(lines[k].product.sku, l->product.sku) != 0) {
                continue;
            }
            done[k] = true;
            qty++;
            char hex[SK_EPC_HEX_MAX];
            epc_hex(&lines[k], hex, sizeof(hex));
            cJSON_AddItemToArray(epcs, cJSON_CreateString(hex));
            cJSON *ev = evidence_json(&lines[k].ev);
            cJSON_AddStringToObject(ev, "epc", hex);
            cJSON_AddItemToArray(evs, ev);
            if (lines[k].ev.track_id && lines[k].ev.confidence < conf) {
                conf = lines[k].ev.confidence;
            }
        }
        cJSON_AddNumberToObject(it, "quantity", qty);
        if (l->known) {
            cJSON_AddNumberToObject(it, "unit_price_minor", (double)l->product.price_minor);
            total += l->product.price_minor * qty;
            if (!currency) {
                currency = l->product.currency;
            } else if (strcmp(currency, l->product.currency) != 0) {
                total_ok = false;
            }
        } else {
            cJSON_AddNullToObject(it, "unit_price_minor");
            total_ok = false;
        }
        cJSON_AddItemToObject(it, "epcs", epcs);
        cJSON_AddNumberToObject(it, "confidence", round2(conf));
        cJSON_AddItemToObject(it, "evidence", evs);
        cJSON_AddItemToArray(arr, it);
        if (conf < min_conf) {
            min_conf = conf;
        }
    }
    free(done);
    *ret_total = total_ok ? total : -1;
    *ret_currency = currency;
    if (ret_min_conf) {
        *ret_min_conf = min_conf;
    }
    return arr;
}

static void add_totals(cJSON *o, int64_t total, const char *currency)
{
    if (total >= 0) {
        cJSON_AddNumberToObject(o, "total_minor", (double)total);
    } else {
        cJSON_AddNullToObject(o, "total_minor");
    }
    add_opt_str(o, "currency", total >= 0 ? currency : NULL);
}

/* A join across two floor cameras names the camera the shopper came from and how far apart
 * the two tracks were on the floor. */
static void add_handover(cJSON *jo, const struct sk_fusion_join *j)
{
    if (j->old_camera[0]) {
        cJSON_AddStringToObject(jo, "old_camera", j->old_camera);
        if (j->distance_m >= 0) {
            cJSON_AddNumberToObject(jo, "distance_m",
                                    (double)(int)(j->distance_m * 100 + 0.5f) / 100);
        }
    }
}

static cJSON *session_evidence(const struct sk_fusion_session *s)
{
    cJSON *o = cJSON_CreateObject();
    add_opt_str(o, "camera", s->camera);
    cJSON_AddNumberToObject(o, "track", s->track_id);
    add_opt_str(o, "entry_line", s->entry_line);
    cJSON *joins = cJSON_AddArrayToObject(o, "joins");
    for (size_t k = 0; k < s->n_joins && k < SK_FUSION_JOINS_MAX; k++) {
        const struct sk_fusion_join *j = &s->joins[k];
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddNumberToObject(jo, "old_track", j->old_track);
        cJSON_AddNumberToObject(jo, "new_track", j->new_track);
        cJSON_AddNumberToObject(jo, "gap_ms", (double)j->gap_ms);
        if (j->distance >= 0) {
            cJSON_AddNumberToObject(jo, "distance_px", (double)(int)(j->distance + 0.5f));
        } else {
            cJSON_AddNullToObject(jo, "distance_px");
        }
        cJSON_AddBoolToObject(jo, "late", j->late);
        add_handover(jo, j);
        cJSON_AddItemToArray(joins, jo);
    }
    cJSON_AddNumberToObject(o, "joins_total", s->n_joins);
    return o;
}

static void add_review(cJSON *o, unsigned review)
{
    cJSON_AddBoolToObject(o, "review", review != 0);
    cJSON *arr = cJSON_AddArrayToObject(o, "review_reasons");
    char text[160];
    sk_fusion_review_text(review, text, sizeof(text));
    char *save = NULL;
    for (char *t = strtok_r(text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
    }
}

/* ---- movements ---------------------------------------------------------------------------- */

/* Records one movement for a known item. Content refusals are logged and skipped. */
static int move(struct sk_ledger *l,
                int type,
                const struct sk_fusion_line *line,
                const char *shelf,
                const char *to_shelf,
                const char *session,
                int quantity,
                int64_t time_us,
                const cJSON *evidence,
                struct sk_movement_result *ret)
{
    if (!line->known) {
        return 0;
    }
    struct sk_movement m = {.type = type,
                            .time_us = time_us,
                            .epc = line->epc,
                            .epc_len = line->epc_len,
                            .sku = line->product.sku,
                            .shelf = shelf && shelf[0] ? shelf : NULL,
                            .to_shelf = to_shelf,
                            .session = session && session[0] ? session : NULL,
                            .quantity = quantity,
                            .evidence = evidence};
    /* Inside the observation's savepoint, which the runtime (or the core's tick) rolls back
     * when this fails: no savepoint of the movement's own. */
    int r = sk_ledger_move(l, &m, SK_MOVE_IN_BATCH, ret);
    if (r == -EINVAL || r == -ENOENT) {
        sk_complain(&move_complaint, sk_now_mono_us(), SK_LOG_WARNING, "fusion", NULL,
                    "%s movement of %s not recorded: %s", sk_move_type_name(type),
                    line->product.sku, sk_ledger_errmsg(l));
        return 0;
    }
    return r;
}

static int event(struct sk_ledger *l, const char *topic, cJSON *fields, int64_t time_us)
{
    int r = fields ? sk_ledger_event(l, topic, NULL, fields, time_us, NULL) : -ENOMEM;
    cJSON_Delete(fields);
    return r;
}

/* ---- facts -------------------------------------------------------------------------------- */

static const char *session_what(int what)
{
    static const char *const names[] = {[SK_SESSION_OPENED] = "opened",
                                        [SK_SESSION_JOINED] = "joined",
                                        [SK_SESSION_BOUND] = "bound",
                                        [SK_SESSION_TIMED_OUT] = "abandoned"};
    return SK_NAME_OF(names, what, "checked_out");
}

static int rec_session(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_session *s = ev->session;
    int r = 0;
    if (ev->what == SK_SESSION_OPENED) {
        cJSON *d = cJSON_CreateObject();
        add_opt_str(d, "camera", s->camera);
        cJSON_AddNumberToObject(d, "track", s->track_id);
        add_opt_str(d, "entry_line", s->entry_line);
        r = sk_ledger_session_open(l, s->id, s->opened_wall_us, d);
        cJSON_Delete(d);
        if (r == -EEXIST) {
            r = 0; /* a retried transaction opens it again */
        }
    } else if (ev->what == SK_SESSION_TIMED_OUT) {
        r = sk_ledger_session_close(l, s->id, ev->wall_us, "abandoned");
        r = r == -ENOENT ? 0 : r;
    }
    if (r < 0) {
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session_id", s->id);
    cJSON_AddStringToObject(o, "state", session_what(ev->what));
    add_opt_str(o, "account_token", s->account);
    add_time(o, "opened", s->opened_wall_us);
    add_opt_str(o, "camera", s->camera);
    cJSON_AddNumberToObject(o, "track", s->track_id);
    add_opt_str(o, "entry_line", s->entry_line);
    if (ev->join) {
        cJSON *jo = cJSON_AddObjectToObject(o, "join");
        cJSON_AddNumberToObject(jo, "old_track", ev->join->old_track);
        cJSON_AddNumberToObject(jo, "new_track", ev->join->new_track);
        cJSON_AddNumberToObject(jo, "gap_ms", (double)ev->join->gap_ms);
        if (ev->join->distance >= 0) {
            cJSON_AddNumberToObject(jo, "distance_px", (double)(int)(ev->join->distance + 0.5f));
        } else {
            cJSON_AddNullToObject(jo, "distance_px");
        }
        cJSON_AddBoolToObject(jo, "late", ev->join->late);
        add_handover(jo, ev->join);
    }
    if (ev->what == SK_SESSION_TIMED_OUT) {
        cJSON_AddNumberToObject(o, "items", (double)s->n_lines);
    }
    return event(l, "event/session", o, ev->wall_us);
}

static int rec_pickup(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_line *line = ev->line;
    const struct sk_fusion_session *s = ev->session;
    cJSON *evid = evidence_json(&line->ev);
    int r;
    if (ev->type == SK_FEV_PICKUP) {
        r = move(l, SK_MOVE_PICKUP, line, line->ev.shelf, NULL, s->id, 1, ev->wall_us, evid, NULL);
    } else if (ev->what == SK_REMOVAL_STAFF) {
        r = move(l, SK_MOVE_ADJUSTMENT, line, line->ev.shelf, NULL, NULL, -1, ev->wall_us, evid,
                 NULL);
    } else {
        r = move(l, SK_MOVE_SHRINK, line, line->ev.shelf, NULL, NULL, 1, ev->wall_us, evid, NULL);
    }
    if (r < 0) {
        cJSON_Delete(evid);
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    if (s) {
        cJSON_AddStringToObject(o, "session_id", s->id);
    } else {
        cJSON_AddNullToObject(o, "session_id");
        cJSON_AddStringToObject(o, "reason",
                                ev->what == SK_REMOVAL_STAFF ? "staff" : "unattributed");
    }
    cJSON_AddStringToObject(o, "shelf", line->ev.shelf);
    cJSON_AddStringToObject(o, "reader", line->ev.reader);
    cJSON_AddNumberToObject(o, "antenna", line->ev.antenna);
    item_fields(o, line);
    if (s) {
        cJSON_AddNumberToObject(o, "confidence", round2(line->ev.confidence));
    }
    cJSON_AddItemToObject(o, "evidence", evid);
    return event(l, "event/pickup", o, ev->wall_us);
}

static const char *putback_reason(int what)
{
    static const char *const names[] = {[SK_PUTBACK_FROM_CART] = "from_cart",
                                        [SK_PUTBACK_AFTER_CHECKOUT] = "return",
                                        [SK_PUTBACK_AFTER_REMOVAL] = "after_removal"};
    return SK_NAME_OF(names, what, "moved");
}

static int rec_putback(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_line *line = ev->line;
    const char *session = ev->session ? ev->session->id : ev->ref_session;
    cJSON *evid = cJSON_CreateObject();
    cJSON_AddStringToObject(evid, "reason", putback_reason(ev->what));
    add_opt_str(evid, "from_shelf", ev->from_shelf);
    int r;
    if (ev->what == SK_PUTBACK_MOVED && ev->from_shelf) {
        /* The ledger still counts it where it came from. */
        if (ev->misplaced) {
            r = move(l, SK_MOVE_MISPLACED, line, ev->from_shelf, ev->shelf, NULL, 1, ev->wall_us,
                     evid, NULL);
        } else {
            r = move(l, SK_MOVE_PICKUP, line, ev->from_shelf, NULL, NULL, 1, ev->wall_us, evid,
                     NULL);
            if (r == 0) {
                r = move(l, SK_MOVE_PUT_BACK, line, ev->shelf, NULL, NULL, 1, ev->wall_us, evid,
                         NULL);
            }
        }
    } else {
        r = move(l, SK_MOVE_PUT_BACK, line, ev->shelf, NULL, session, 1, ev->wall_us, evid, NULL);
    }
    if (r < 0) {
        cJSON_Delete(evid);
        return r;
    }
    cJSON_Delete(evid);
    cJSON *o = cJSON_CreateObject();
    if (ev->session) {
        cJSON_AddStringToObject(o, "session_id", ev->session->id);
    } else {
        cJSON_AddNullToObject(o, "session_id");
    }
    cJSON_AddStringToObject(o, "reason", putback_reason(ev->what));
    if (ev->what == SK_PUTBACK_AFTER_CHECKOUT || ev->what == SK_PUTBACK_AFTER_REMOVAL) {
        add_opt_str(o, "sold_in", ev->what == SK_PUTBACK_AFTER_CHECKOUT ? ev->ref_session : NULL);
    }
    cJSON_AddStringToObject(o, "shelf", ev->shelf);
    cJSON_AddStringToObject(o, "reader", line->ev.reader);
    cJSON_AddNumberToObject(o, "antenna", line->ev.antenna);
    item_fields(o, line);
    cJSON_AddBoolToObject(o, "misplaced", ev->misplaced);
    add_opt_str(o, "from_shelf", ev->from_shelf);
    return event(l, "event/put_back", o, ev->wall_us);
}

static int rec_misplaced(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_line *line = ev->line;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "misplaced");
    cJSON_AddStringToObject(o, "shelf", ev->shelf);
    cJSON_AddStringToObject(o, "sku", line->product.sku);
    add_opt_str(o, "gtin", line->product.gtin);
    cJSON_AddNullToObject(o, "expected");
    cJSON_AddNullToObject(o, "seen");
    cJSON *epcs = cJSON_AddArrayToObject(o, "epcs");
    char hex[SK_EPC_HEX_MAX];
    epc_hex(line, hex, sizeof(hex));
    cJSON_AddItemToArray(epcs, cJSON_CreateString(hex));
    char detail[160];
    if (ev->from_shelf) {
        snprintf(detail, sizeof(detail), "arrived on %s from %s, which is not where it belongs",
                 ev->shelf, ev->from_shelf);
    } else {
        snprintf(detail, sizeof(detail), "stocked onto %s, which is not where it belongs",
                 ev->shelf);
    }
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddStringToObject(o, "source", "fusion");
    return event(l, "event/discrepancy", o, ev->wall_us);
}

static int rec_restock(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    cJSON *evid = cJSON_CreateObject();
    cJSON_AddBoolToObject(evid, "announced", ev->what != 0);
    int r = move(l, SK_MOVE_RESTOCK, ev->line, ev->shelf, NULL, NULL, 1, ev->wall_us, evid, NULL);
    cJSON_Delete(evid);
    return r;
}

/* One event/restock per shelf of the summary. */
static int rec_restock_session(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    for (size_t i = 0; i < ev->n_restock;) {
        const char *shelf = ev->restock[i].shelf;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "shelf", shelf);
        add_opt_str(o, "restock_id", ev->restock_id);
        add_time(o, "started", ev->restock[i].started_wall_us);
        add_time(o, "ended", ev->wall_us);
        cJSON *items = cJSON_AddArrayToObject(o, "items");
        for (; i < ev->n_restock && strcmp(ev->restock[i].shelf, shelf) == 0; i++) {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddStringToObject(it, "sku", ev->restock[i].sku);
            struct sk_product p;
            if (sk_ledger_product_get(l, ev->restock[i].sku, &p) == 1) {
                add_opt_str(it, "gtin", p.gtin);
                cJSON_AddStringToObject(it, "name", p.name);
                cJSON_AddNumberToObject(it, "unit_price_minor", (double)p.price_minor);
            }
            cJSON_AddNumberToObject(it, "quantity", ev->restock[i].added);
            cJSON_AddNumberToObject(it, "shelf_stock", ev->restock[i].stock);
            cJSON_AddItemToArray(items, it);
        }
        int r = event(l, "event/restock", o, ev->wall_us);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static int rec_checkout(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_session *s = ev->session;
    struct sk_movement_result last = {0};
    for (size_t k = 0; k < s->n_lines; k++) {
        const struct sk_fusion_line *line = &s->lines[k];
        cJSON *evid = cJSON_CreateObject();
        cJSON_AddNumberToObject(evid, "confidence", round2(line->ev.confidence));
        add_time(evid, "exit_seen", line->ev.exit_seen_wall_us);
        int r = move(l, SK_MOVE_SALE, line, line->ev.shelf, NULL, s->id, 1, ev->wall_us, evid,
                     &last);
        cJSON_Delete(evid);
        if (r < 0) {
            return r;
        }
    }
    int r = sk_ledger_session_close(l, s->id, ev->wall_us, "checked_out");
    if (r < 0 && r != -ENOENT) {
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session_id", s->id);
    add_opt_str(o, "account_token", s->account);
    add_time(o, "opened", s->opened_wall_us);
    add_time(o, "closed", s->exit_wall_us ? s->exit_wall_us : ev->wall_us);
    int64_t total;
    const char *currency;
    double conf;
    cJSON_AddItemToObject(o, "items", items_json(s->lines, s->n_lines, &total, &currency, &conf));
    add_totals(o, total, currency);
    add_opt_str(o, "exit", s->exit_line[0] ? s->exit_line : NULL);
    cJSON_AddNumberToObject(o, "confidence", round2(conf));
    add_review(o, s->review);
    cJSON_AddItemToObject(o, "contested", contested_json(s));
    cJSON_AddNullToObject(o, "supersedes");
    cJSON_AddItemToObject(o, "evidence", session_evidence(s));
    if (last.hash[0]) {
        /* An anchor for the cloud: movement last.id has this hash (docs/ledger.md). */
        cJSON_AddStringToObject(o, "ledger_hash", last.hash);
        cJSON_AddNumberToObject(o, "ledger_movement_id", (double)last.id);
    }
    return event(l, "event/checkout", o, ev->wall_us);
}

static int rec_abandoned(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    const struct sk_fusion_session *s = ev->session;
    for (size_t k = 0; k < ev->n_items; k++) {
        const struct sk_fusion_line *line = &ev->items[k];
        cJSON *evid = cJSON_CreateObject();
        cJSON_AddStringToObject(evid, "reason", "cart_abandoned");
        int r = move(l, SK_MOVE_SHRINK, line, line->ev.shelf, NULL, s->id, 1, ev->wall_us, evid,
                     NULL);
        cJSON_Delete(evid);
        if (r < 0) {
            return r;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "session_id", s->id);
    add_opt_str(o, "account_token", s->account);
    add_time(o, "opened", s->opened_wall_us);
    add_time(o, "abandoned", ev->wall_us);
    cJSON_AddStringToObject(o, "reason", s->lost_mono_us ? "lost" : "idle");
    int64_t total;
    const char *currency;
    cJSON_AddItemToObject(o, "items", items_json(ev->items, ev->n_items, &total, &currency, NULL));
    add_totals(o, total, currency);
    add_review(o, s->review);
    cJSON_AddItemToObject(o, "evidence", session_evidence(s));
    return event(l, "event/cart_abandoned", o, ev->wall_us);
}

static int rec_unpaid(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    const char *reader = NULL;
    int64_t total = 0;
    bool total_ok = true;
    for (size_t k = 0; k < ev->n_items; k++) {
        const struct sk_fusion_line *line = &ev->items[k];
        cJSON *it = cJSON_CreateObject();
        item_fields(it, line);
        add_opt_str(it, "shelf", line->ev.shelf);
        add_time(it, "removed", line->ev.removed_wall_us);
        add_time(it, "seen", line->ev.exit_seen_wall_us);
        cJSON_AddItemToArray(items, it);
        reader = line->ev.reader;
        if (line->known) {
            total += line->product.price_minor;
        } else {
            total_ok = false;
        }
    }
    add_opt_str(o, "reader", reader);
    add_totals(o, total_ok ? total : -1,
               ev->n_items && ev->items[0].known ? ev->items[0].product.currency : NULL);
    return event(l, "event/exit_without_checkout", o, ev->wall_us);
}

int sk_fusion_ledger_record(struct sk_ledger *l, const struct sk_fusion_event *ev)
{
    switch (ev->type) {
    case SK_FEV_SESSION:
        return rec_session(l, ev);
    case SK_FEV_PICKUP:
    case SK_FEV_REMOVAL:
        return rec_pickup(l, ev);
    case SK_FEV_PUTBACK:
        return rec_putback(l, ev);
    case SK_FEV_MISPLACED:
        return rec_misplaced(l, ev);
    case SK_FEV_RESTOCK:
        return rec_restock(l, ev);
    case SK_FEV_RESTOCK_SESSION:
        return rec_restock_session(l, ev);
    case SK_FEV_CHECKOUT:
        return rec_checkout(l, ev);
    case SK_FEV_CART_ABANDONED:
        return rec_abandoned(l, ev);
    case SK_FEV_EXIT_WITHOUT_CHECKOUT:
        return rec_unpaid(l, ev);
    default:
        return 0;
    }
}

/* ---- durable state ------------------------------------------------------------------------ */

static int put_part(void *ctx, const char *key, const cJSON *state)
{
    char full[160];
    snprintf(full, sizeof(full), STATE_PREFIX "%s", key);
    char *text = state ? cJSON_PrintUnformatted(state) : NULL;
    if (state && !text) {
        return -ENOMEM;
    }
    int r = sk_ledger_state_put(ctx, full, text);
    free(text);
    return r;
}

int sk_fusion_ledger_save(struct sk_fusion *f, struct sk_ledger *l, bool all)
{
    return sk_fusion_persist(f, all, put_part, l);
}

struct load_ctx {
    cJSON *core;
    cJSON **sessions;
    size_t n, cap;
    int err;
};

static int load_part(const char *key, const char *text, void *ctx)
{
    struct load_ctx *lc = ctx;
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        lc->err = -EINVAL;
        return 0; /* reported after the scan */
    }
    if (strcmp(key, STATE_PREFIX "core") == 0) {
        cJSON_Delete(lc->core);
        lc->core = j;
        return 0;
    }
    if (lc->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 16;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        cJSON **s = realloc(lc->sessions, cap * sizeof(*s));
        if (!s) {
            cJSON_Delete(j);
            return -ENOMEM;
        }
        lc->sessions = s;
        lc->cap = cap;
    }
    lc->sessions[lc->n++] = j;
    return 0;
}

struct memo_ctx {
    struct sk_fusion *f;
    size_t n;
};

static int memo_row(const struct sk_movement_row *row, void *ctx)
{
    struct memo_ctx *mc = ctx;
    mc->n += sk_fusion_remember(mc->f, row) == 1;
    return 0;
}

int sk_fusion_ledger_load(struct sk_fusion *f,
                          struct sk_ledger *l,
                          const struct sk_config *cfg,
                          const struct sk_clock *clock)
{
    struct load_ctx lc = {0};
    int r = sk_ledger_state_list(l, STATE_PREFIX, load_part, &lc);
    if (r >= 0) {
        r = sk_fusion_restore(f, lc.core, (const cJSON *const *)lc.sessions, lc.n);
        if (r == 0 && lc.err) {
            r = lc.err;
        }
    }
    int sessions = (int)lc.n;
    cJSON_Delete(lc.core);
    for (size_t i = 0; i < lc.n; i++) {
        cJSON_Delete(lc.sessions[i]);
    }
    free(lc.sessions);
    if (r < 0) {
        return r;
    }
    struct memo_ctx mc = {f, 0};
    struct sk_movement_filter filter = {.since_us = sk_clock_wall_us(clock) -
                                                    (int64_t)cfg->fusion.sold_memory_s * 1000000};
    r = sk_ledger_movements(l, &filter, memo_row, &mc);
    return r < 0 ? r : sessions;
}
