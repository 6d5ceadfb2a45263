/* SPDX-License-Identifier: MIT */
/* Scoring a simulated run: the checkouts the store reported against each visit's true cart. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sim_run.h"
#include "storekeeper/assign.h"

/*
 * Checkouts are matched to visits by time, not by content, so a wrong cart cannot make its
 * own match: a checkout's "opened" and "closed" (its shopper's entry and exit crossings) are
 * paired with the visits' scripted crossings by an optimal assignment (Hungarian method) on
 * the sum of both time differences; a pair whose exits are more than MATCH_S apart is not a
 * match. Then per visit, by what is charged: the store charges products, so a cart is judged
 * by its multiset of products (sku and count). Per visit and sku, min(taken, charged) are
 * right (true positives), the excess charged is a phantom charge, the shortfall a missed
 * item; an EPC the scenario does not know is always a phantom. A visit is exact when nothing
 * is phantom or missed; a visit without a checkout misses its whole cart. Tag identity is
 * reported apart: exact_tags counts carts whose EPC sets are equal, tag_swaps the right
 * products charged with another visit's tag of it (two interchangeable tags whose takers the
 * store could not tell apart: the money is right, the tag is not).
 *
 * Then what review would see. The true taker of an item is the visit whose cart holds it; of a
 * phantom charge, the visit short of that product (the tag's taker when it is). A phantom
 * charge names the taker when the line's candidates include the taker's checkout (or, for a
 * taker the store never followed, when the line is in unseen doubt). A visit short of a
 * product whose tag of it was charged to another is misattributed: it is flagged at the taker
 * when the taker's checkout went to review listing a line of that product (as its own line or
 * a contested one). Wrong and unreviewed: a phantom charge in a checkout not sent to review,
 * and a misattributed item whose taker's checkout went out without review.
 */

#define MATCH_S 3.0

/* "2026-11-21T10:00:00.123Z" -> microseconds since the epoch; 0 when malformed. */
static int64_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    /* Field widths bound every number, so none can overflow an int. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + ms * 1000;
}

struct checkout {
    double t;      /* closed, scene seconds */
    double opened; /* scene seconds, NAN when unknown */
    cJSON *json;
    int visit;
    bool review;
    const char *session;
};

static bool charged(const cJSON *co, const char *hex)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(co, "items"), *it;
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(it, "epcs"))
        {
            if (cJSON_IsString(e) && strcmp(e->valuestring, hex) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* The evidence of the line with epc hex: among the items, or among the contested lines. */
static const cJSON *line_evidence(const cJSON *co, const char *hex, bool contested)
{
    const cJSON *it, *e;
    if (contested) {
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(co, "contested"))
        {
            const cJSON *epc = cJSON_GetObjectItemCaseSensitive(it, "epc");
            if (cJSON_IsString(epc) && strcmp(epc->valuestring, hex) == 0) {
                return cJSON_GetObjectItemCaseSensitive(it, "evidence");
            }
        }
        return NULL;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(co, "items"))
    {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(it, "evidence"))
        {
            const cJSON *epc = cJSON_GetObjectItemCaseSensitive(e, "epc");
            if (cJSON_IsString(epc) && strcmp(epc->valuestring, hex) == 0) {
                return e;
            }
        }
    }
    return NULL;
}

static bool names_session(const cJSON *ev, const char *session)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ev, "candidate_list"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "session_id");
        if (session && cJSON_IsString(id) && strcmp(id->valuestring, session) == 0) {
            return true;
        }
    }
    return false;
}

static bool in_doubt(const cJSON *ev, const char *doubt)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(ev, "doubts"))
    {
        if (cJSON_IsString(d) && strcmp(d->valuestring, doubt) == 0) {
            return true;
        }
    }
    return false;
}

/* The visit whose cart holds item, or -1. */
static int taker_of(const struct scenario *sc, int item)
{
    for (size_t v = 0; v < sc->n_visits; v++) {
        for (size_t k = 0; k < sc->visits[v].n_cart; k++) {
            if (sc->visits[v].cart[k] == item) {
                return (int)v;
            }
        }
    }
    return -1;
}

static int item_of(const struct scenario *sc, const char *hex)
{
    for (size_t i = 0; i < sc->n_items; i++) {
        if (strcmp(sc->items[i].hex, hex) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int charged_count(const cJSON *co)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(co, "items"))
    {
        n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(it, "epcs"));
    }
    return n;
}

/* The scenario's sku of a charged EPC, or -1 for a tag the scenario does not know. */
static int sku_of(const struct scenario *sc, const char *hex)
{
    int item = item_of(sc, hex);
    return item >= 0 ? sc->items[item].sku : -1;
}

/* Charged units per sku of a checkout (got[SC_MAX_SKUS]); returns the unknown EPCs. */
static int charged_skus(const struct scenario *sc, const cJSON *co, int *got)
{
    int unknown = 0;
    memset(got, 0, SC_MAX_SKUS * sizeof(int));
    const cJSON *items = co ? cJSON_GetObjectItemCaseSensitive(co, "items") : NULL, *it, *e;
    cJSON_ArrayForEach(it, items)
    {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(it, "epcs"))
        {
            int k = cJSON_IsString(e) ? sku_of(sc, e->valuestring) : -1;
            if (k >= 0 && k < SC_MAX_SKUS) {
                got[k]++;
            } else {
                unknown++;
            }
        }
    }
    return unknown;
}

/* Taken units per sku of a visit (truth[SC_MAX_SKUS]). */
static void taken_skus(const struct scenario *sc, int v, int *truth)
{
    memset(truth, 0, SC_MAX_SKUS * sizeof(int));
    for (size_t k = 0; v >= 0 && k < sc->visits[v].n_cart; k++) {
        int sku = sc->items[sc->visits[v].cart[k]].sku;
        truth[sku < SC_MAX_SKUS ? sku : 0]++;
    }
}

/* Whether the checkout lists a line of sku (its own or a contested one). */
static bool lists_sku(const struct scenario *sc, const cJSON *co, int sku)
{
    const cJSON *it, *e;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(co, "contested"))
    {
        const cJSON *epc = cJSON_GetObjectItemCaseSensitive(it, "epc");
        if (cJSON_IsString(epc) && sku_of(sc, epc->valuestring) == sku) {
            return true;
        }
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(co, "items"))
    {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(it, "epcs"))
        {
            if (cJSON_IsString(e) && sku_of(sc, e->valuestring) == sku) {
                return true;
            }
        }
    }
    return false;
}

#define NO_MATCH 1e6

/* Minimum-cost assignment of checkouts (rows) to visits (columns): a checkout matches a
 * visit whose exit it is within MATCH_S of, preferring the one whose entry fits too. */
static void assign(const struct scenario *sc, struct checkout *co, size_t rows, int *visit_co)
{
    size_t cols = sc->n_visits, k = rows > cols ? rows : cols;
    if (rows == 0 || cols == 0) {
        return;
    }
    double *cost = calloc(rows * cols, sizeof(double));
    void *work = malloc(SK_ASSIGN_WORK_SIZE(k));
    int *match = calloc(rows, sizeof(int));
    if (!cost || !work || !match) {
        goto out;
    }
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            const struct sc_visit *vi = &sc->visits[j];
            double d = fabs(co[i].t - vi->exit_t), c = NO_MATCH;
            if (d <= MATCH_S) {
                c = d + (isnan(co[i].opened)
                                 ? MATCH_S
                                 : fmin(fabs(co[i].opened - vi->enter_t), 10 * MATCH_S));
            }
            cost[i * cols + j] = c;
        }
    }
    sk_assign(cost, rows, cols, NO_MATCH, work, match);
    for (size_t i = 0; i < rows; i++) {
        if (match[i] >= 0) {
            co[i].visit = match[i];
            visit_co[match[i]] = (int)i;
        }
    }
out:
    free(cost);
    free(work);
    free(match);
}

void sim_score_free(struct sim_score *s)
{
    if (s) {
        cJSON_Delete(s->detail);
        s->detail = NULL;
    }
}

/* What review would see of each checkout, and the figures over them (see the top). */
static void review_view(const struct scenario *sc,
                        struct checkout *co,
                        size_t n,
                        const int *visit_co,
                        struct sim_score *ret,
                        bool detail)
{
    cJSON *arr = detail ? cJSON_CreateArray() : NULL;
    for (size_t c = 0; c < n; c++) {
        const cJSON *j = co[c].json;
        ret->checkouts++;
        ret->reviewed += co[c].review;
        int v = co[c].visit;
        cJSON *d = arr ? cJSON_CreateObject() : NULL;
        if (d) {
            cJSON_AddItemToArray(arr, d);
            cJSON_AddStringToObject(d, "session_id", co[c].session ? co[c].session : "");
            if (v >= 0) {
                cJSON_AddStringToObject(d, "visit", sc->shoppers[sc->visits[v].shopper].name);
            } else {
                cJSON_AddNullToObject(d, "visit");
            }
            cJSON_AddBoolToObject(d, "review", co[c].review);
            cJSON *reasons =
                    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j, "review_reasons"), true);
            cJSON_AddItemToObject(d, "review_reasons", reasons ? reasons : cJSON_CreateArray());
        }
        cJSON *wrong = d ? cJSON_AddArrayToObject(d, "wrong") : NULL;
        const cJSON *it, *e;
        /* The units of each product charged beyond what the visit took. */
        int excess[SC_MAX_SKUS], truth[SC_MAX_SKUS];
        (void)charged_skus(sc, j, excess);
        taken_skus(sc, v, truth);
        for (int k = 0; k < SC_MAX_SKUS; k++) {
            excess[k] -= truth[k];
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
        {
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(it, "evidence"))
            {
                const cJSON *epc = cJSON_GetObjectItemCaseSensitive(e, "epc");
                if (!cJSON_IsString(epc)) {
                    continue;
                }
                ret->contested_lines +=
                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "contested"));
                int item = item_of(sc, epc->valuestring);
                int taker = item >= 0 ? taker_of(sc, item) : -1;
                if (taker == v && v >= 0) {
                    continue; /* right */
                }
                int sku = item >= 0 ? sc->items[item].sku : -1;
                if (sku >= 0 && sku < SC_MAX_SKUS) {
                    if (excess[sku] <= 0) {
                        continue; /* another's tag of a product the visit took: right money */
                    }
                    excess[sku]--;
                    /* The one who owes this unit: the tag's taker when it is short of the
                     * product, else a visit that is. */
                    int short_of = -1;
                    for (size_t u = 0; u < sc->n_visits; u++) {
                        int got[SC_MAX_SKUS], took[SC_MAX_SKUS];
                        (void)charged_skus(sc, visit_co[u] >= 0 ? co[visit_co[u]].json : NULL, got);
                        taken_skus(sc, (int)u, took);
                        if (took[sku] > got[sku] && (short_of < 0 || (int)u == taker)) {
                            short_of = (int)u;
                        }
                    }
                    taker = short_of >= 0 ? short_of : taker;
                }
                /* A phantom charge: does its line name the true taker? */
                bool named = false;
                if (taker >= 0 && visit_co[taker] >= 0) {
                    named = names_session(e, co[visit_co[taker]].session);
                } else if (taker >= 0) {
                    named = in_doubt(e, "unseen_taker");
                }
                ret->taker_named += named;
                ret->wrong_unreviewed += !co[c].review;
                if (wrong) {
                    cJSON *w = cJSON_CreateObject();
                    cJSON_AddStringToObject(w, "epc", epc->valuestring);
                    cJSON_AddStringToObject(w, "sku",
                                            item >= 0 ? sc_product(sc->items[item].sku)->sku : "?");
                    if (taker >= 0) {
                        cJSON_AddStringToObject(w, "taker",
                                                sc->shoppers[sc->visits[taker].shopper].name);
                    } else {
                        cJSON_AddNullToObject(w, "taker");
                    }
                    cJSON_AddBoolToObject(w, "taker_named", named);
                    cJSON_AddItemToArray(wrong, w);
                }
            }
        }
    }
    /* Misattributed: a visit short of a product whose tag of it was charged to another; is it
     * flagged at the taker? */
    for (size_t v = 0; v < sc->n_visits; v++) {
        const struct sc_visit *vi = &sc->visits[v];
        int me = visit_co[v];
        int got[SC_MAX_SKUS], took[SC_MAX_SKUS];
        (void)charged_skus(sc, me >= 0 ? co[me].json : NULL, got);
        taken_skus(sc, (int)v, took);
        for (size_t k = 0; k < vi->n_cart; k++) {
            const char *hex = sc->items[vi->cart[k]].hex;
            int sku = sc->items[vi->cart[k]].sku;
            if ((me >= 0 && charged(co[me].json, hex)) || took[sku] <= got[sku]) {
                continue;
            }
            int other = -1;
            for (size_t c = 0; c < n && other < 0; c++) {
                if ((int)c != me && charged(co[c].json, hex)) {
                    other = (int)c;
                }
            }
            if (other < 0) {
                continue; /* not charged at all: a missed item */
            }
            ret->misattributed++;
            got[sku]++; /* this unit of the shortfall is counted */
            if (me >= 0) {
                bool listed = line_evidence(co[me].json, hex, true) != NULL ||
                              lists_sku(sc, co[me].json, sku);
                ret->taker_flagged += co[me].review && listed;
                ret->wrong_unreviewed += !co[me].review;
            } else {
                const cJSON *e = line_evidence(co[other].json, hex, false);
                ret->taker_flagged += e && in_doubt(e, "unseen_taker") && co[other].review;
            }
        }
    }
    ret->detail = arr;
}

static void score(const struct scenario *sc,
                  const struct sim_result *res,
                  struct sim_score *ret,
                  bool *ret_exact,
                  int *ret_phantom,
                  int *ret_missed,
                  bool detail)
{
    memset(ret, 0, sizeof(*ret));
    struct checkout *co = calloc(res->n_events ? res->n_events : 1, sizeof(*co));
    size_t n = 0;
    for (size_t i = 0; co && i < res->n_events; i++) {
        const struct sim_event *e = &res->events[i];
        if (strcmp(e->topic, "event/cart_abandoned") == 0) {
            ret->abandoned++;
        } else if (strcmp(e->topic, "event/exit_without_checkout") == 0) {
            ret->unpaid++;
        }
        if (strcmp(e->topic, "event/checkout") != 0) {
            continue;
        }
        cJSON *j = cJSON_Parse(e->payload);
        const cJSON *closed = j ? cJSON_GetObjectItemCaseSensitive(j, "closed") : NULL;
        int64_t t = closed && cJSON_IsString(closed) ? parse_time(closed->valuestring) : 0;
        if (!t) {
            cJSON_Delete(j);
            continue;
        }
        co[n].t = (double)(t - res->t0_wall_us) / 1e6;
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "opened");
        int64_t o = op && cJSON_IsString(op) ? parse_time(op->valuestring) : 0;
        co[n].opened = o ? (double)(o - res->t0_wall_us) / 1e6 : NAN;
        co[n].json = j;
        co[n].visit = -1;
        co[n].review = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "review"));
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "session_id");
        co[n].session = cJSON_IsString(sid) ? sid->valuestring : NULL;
        n++;
    }
    int *visit_co = malloc((sc->n_visits ? sc->n_visits : 1) * sizeof(int));
    if (!co || !visit_co) { /* out of memory: no score rather than a crash */
        for (size_t c = 0; c < n; c++) {
            cJSON_Delete(co[c].json);
        }
        free(visit_co);
        free(co);
        ret->unmatched = -1;
        return;
    }
    for (size_t v = 0; v < sc->n_visits; v++) {
        visit_co[v] = -1;
    }
    assign(sc, co, n, visit_co);
    ret->visits = (int)sc->n_visits;
    for (size_t v = 0; v < sc->n_visits; v++) {
        const struct sc_visit *vi = &sc->visits[v];
        ret->truth_lines += (int)vi->n_cart;
        const cJSON *j = visit_co[v] >= 0 ? co[visit_co[v]].json : NULL;
        int tp_tags = 0;
        for (size_t k = 0; k < vi->n_cart; k++) {
            tp_tags += j && charged(j, sc->items[vi->cart[k]].hex);
        }
        int ch = j ? charged_count(j) : 0;
        /* Right charges by product: per sku, what was both taken and charged. */
        int got[SC_MAX_SKUS], took[SC_MAX_SKUS], tp = 0;
        (void)charged_skus(sc, j, got);
        taken_skus(sc, (int)v, took);
        for (int k = 0; k < SC_MAX_SKUS; k++) {
            tp += got[k] < took[k] ? got[k] : took[k];
        }
        ret->tag_swaps += tp - tp_tags;
        ret->exact_tags += j && ch == tp_tags && tp_tags == (int)vi->n_cart;
        ret->true_pos += tp;
        ret->charged += ch;
        ret->phantom += ch - tp;
        if (j && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "review"))) {
            ret->phantom_unreviewed += ch - tp;
        }
        ret->missed += (int)vi->n_cart - tp;
        bool exact = j && ch == tp && tp == (int)vi->n_cart;
        if (exact) {
            ret->exact++;
        }
        if (ret_exact) {
            ret_exact[v] = exact;
        }
        if (ret_phantom) {
            ret_phantom[v] = ch - tp;
        }
        if (ret_missed) {
            ret_missed[v] = (int)vi->n_cart - tp;
        }
        for (int sku = 0; sku < SC_MAX_SKUS; sku++) {
            int truth = 0, got_q = 0;
            for (size_t k = 0; k < vi->n_cart; k++) {
                truth += sc->items[vi->cart[k]].sku == sku;
            }
            const cJSON *items = j ? cJSON_GetObjectItemCaseSensitive(j, "items") : NULL;
            const cJSON *it;
            cJSON_ArrayForEach(it, items)
            {
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "sku");
                const cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "quantity");
                if (cJSON_IsString(s) && cJSON_IsNumber(q) &&
                    strcmp(s->valuestring, sc_product(sku)->sku) == 0) {
                    got_q += q->valueint;
                }
            }
            ret->count_errors += abs(truth - got_q);
        }
        if (vi->token[0]) {
            const cJSON *tok = j ? cJSON_GetObjectItemCaseSensitive(j, "account_token") : NULL;
            if (!cJSON_IsString(tok) || strcmp(tok->valuestring, vi->token) != 0) {
                ret->token_errors++;
            }
        }
    }
    review_view(sc, co, n, visit_co, ret, detail);
    for (size_t c = 0; c < n; c++) {
        if (co[c].visit < 0) {
            ret->unmatched++;
            /* every item of a checkout nobody made is a phantom charge */
            int ch = charged_count(co[c].json);
            ret->phantom += ch;
            ret->charged += ch;
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(co[c].json, "review"))) {
                ret->phantom_unreviewed += ch;
            }
        }
        cJSON_Delete(co[c].json);
    }
    ret->precision = ret->charged ? (double)ret->true_pos / ret->charged : 1.0;
    ret->recall = ret->truth_lines ? (double)ret->true_pos / ret->truth_lines : 1.0;
    if (res->stock_read) {
        for (int s = 0; s < SC_MAX_SHELVES; s++) {
            for (int k = 0; k < SC_MAX_SKUS; k++) {
                ret->stock_errors += abs(res->stock[s][k] - sc->final_stock[s][k]);
            }
        }
    }
    free(visit_co);
    free(co);
}

void sim_score(const struct scenario *sc, const struct sim_result *res, struct sim_score *ret)
{
    score(sc, res, ret, NULL, NULL, NULL, false);
}

void sim_score_detailed(const struct scenario *sc,
                        const struct sim_result *res,
                        struct sim_score *ret)
{
    score(sc, res, ret, NULL, NULL, NULL, true);
}

void sim_score_visits(const struct scenario *sc,
                      const struct sim_result *res,
                      struct sim_score *ret,
                      bool *ret_exact,
                      int *ret_phantom,
                      int *ret_missed)
{
    score(sc, res, ret, ret_exact, ret_phantom, ret_missed, false);
}

static int write_truth(const struct scenario *sc, const struct sim_result *res, const char *path)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", sc->name);
    cJSON_AddStringToObject(o, "file", sc->path);
    cJSON *visits = cJSON_AddArrayToObject(o, "visits");
    for (size_t v = 0; v < sc->n_visits; v++) {
        const struct sc_visit *vi = &sc->visits[v];
        cJSON *vo = cJSON_CreateObject();
        cJSON_AddStringToObject(vo, "shopper", sc->shoppers[vi->shopper].name);
        cJSON_AddNumberToObject(vo, "enter_s", round(vi->enter_t * 1000) / 1000);
        cJSON_AddNumberToObject(vo, "exit_s", round(vi->exit_t * 1000) / 1000);
        cJSON_AddNumberToObject(vo, "exit_wall_us",
                                (double)(res->t0_wall_us + (int64_t)(vi->exit_t * 1e6)));
        if (vi->token[0]) {
            cJSON_AddStringToObject(vo, "account_token", vi->token);
        }
        cJSON *cart = cJSON_AddArrayToObject(vo, "cart");
        for (size_t k = 0; k < vi->n_cart; k++) {
            const struct sc_item *it = &sc->items[vi->cart[k]];
            cJSON *io = cJSON_CreateObject();
            cJSON_AddStringToObject(io, "epc", it->hex);
            cJSON_AddStringToObject(io, "sku", sc_product(it->sku)->sku);
            cJSON_AddItemToArray(cart, io);
        }
        cJSON_AddItemToArray(visits, vo);
    }
    cJSON *stock = cJSON_AddArrayToObject(o, "stock");
    for (int s = 0; s < SC_MAX_SHELVES; s++) {
        for (int k = 0; k < SC_MAX_SKUS; k++) {
            if (sc->final_stock[s][k]) {
                cJSON *so = cJSON_CreateObject();
                cJSON_AddStringToObject(so, "shelf", sc_shelf_name(s));
                cJSON_AddStringToObject(so, "sku", sc_product(k)->sku);
                cJSON_AddNumberToObject(so, "count", sc->final_stock[s][k]);
                cJSON_AddItemToArray(stock, so);
            }
        }
    }
    cJSON_AddNumberToObject(o, "misplaced", sc->misplaced);
    cJSON_AddNumberToObject(o, "returns", sc->returns);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        return -ENOMEM;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        free(text);
        return -e;
    }
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return fclose(f) == 0 ? 0 : -errno;
}

int sim_write_files(const struct scenario *sc, const struct sim_result *res, const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/truth.json", dir);
    int r = write_truth(sc, res, path);
    if (r < 0) {
        return r;
    }
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -errno;
    }
    for (size_t i = 0; i < res->n_events; i++) {
        fprintf(f, "%s\n", res->events[i].payload);
    }
    return fclose(f) == 0 ? 0 : -errno;
}
