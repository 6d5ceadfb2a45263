/* SPDX-License-Identifier: MIT */
/* The fusion test script runner: a test store, a catalog, a manual clock, an event log. */
#include "fusion_script.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../unit/test_helpers.h"
#include "ledger_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/core.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/tagset.h"

const char *script_fault_point;
int script_fault_countdown, script_fault_err;

#define BASE_MONO_US 5000000LL
#define BASE_WALL_US 1800000000000000LL
#define TICK_US      100000LL
#define MAX_STEPS    256

static const char store_text[] =
        "store_id = \"t\";\n"
        "device_id = \"d\";\n"
        "board = \"sim\";\n"
        "buses = ( { name = \"b\"; url = \"tcp:127.0.0.1:1502\"; } );\n"
        "readers = (\n"
        "  { name = \"ra\"; bus = \"b\"; unit = 1; },\n"
        "  { name = \"rb\"; bus = \"b\"; unit = 2; },\n"
        "  { name = \"rc\"; bus = \"b\"; unit = 3; },\n"
        "  { name = \"rd\"; bus = \"b\"; unit = 4; },\n"
        "  { name = \"portal\"; bus = \"b\"; unit = 9; role = \"exit\"; }\n"
        ");\n"
        "shelves = (\n"
        "  { name = \"A1\"; reader = \"ra\"; antenna = 1; zone = \"za\"; preset = \"fast\"; },\n"
        "  { name = \"B1\"; reader = \"rb\"; antenna = 0; zone = \"zb\"; preset = \"fast\"; },\n"
        "  { name = \"C1\"; reader = \"rc\"; antenna = 1; zone = \"zc\"; preset = \"fast\"; },\n"
        "  { name = \"D1\"; reader = \"rd\"; antenna = 1; zone = \"zd\"; preset = \"fast\"; }\n"
        ");\n"
        /* Two floor cameras: cam's pixel (x, y) is (x / 100, y / 100) m on the floor, cam2's
         * (x / 100 - 4, y / 100): cam2's x 400..800 is cam's 0..400. */
        "cameras = ( { name = \"cam\"; backend = \"synthetic\"; floor = [0.0, 0.0, 0.0, 0.0, "
        "800.0, 0.0, 8.0, 0.0, 800.0, 400.0, 8.0, 4.0, 0.0, 400.0, 0.0, 4.0]; },\n"
        "  { name = \"cam2\"; backend = \"synthetic\"; floor = [0.0, 0.0, -4.0, 0.0, "
        "800.0, 0.0, 4.0, 0.0, 800.0, 400.0, 4.0, 4.0, 0.0, 400.0, -4.0, 4.0]; } );\n"
        "zones = (\n"
        "  { name = \"za\"; camera = \"cam\"; polygon = [0.0, 0.0, 100.0, 0.0, 100.0, 100.0, 0.0, "
        "100.0]; },\n"
        "  { name = \"zb\"; camera = \"cam\"; polygon = [200.0, 0.0, 300.0, 0.0, 300.0, 100.0, "
        "200.0, 100.0]; },\n"
        "  { name = \"zc\"; camera = \"cam2\"; polygon = [400.0, 0.0, 500.0, 0.0, 500.0, 100.0, "
        "400.0, 100.0]; },\n"
        "  { name = \"zd\"; camera = \"cam\"; polygon = [700.0, 0.0, 800.0, 0.0, 800.0, 100.0, "
        "700.0, 100.0]; reach = [700.0, 0.0, 800.0, 0.0]; }\n"
        ");\n"
        "lines = ( { name = \"door\"; camera = \"cam\"; role = \"door\"; inside = \"right\"; "
        "points = [600.0, 0.0, "
        "600.0, 100.0]; } );\n"
        "staff_badges = ( { name = \"stocker\"; epc = \"E20000000000000000A0FFFF\"; } );\n";

void script_epc(int n, uint8_t epc[12])
{
    memset(epc, 0, 12);
    epc[0] = 0xE2;
    epc[9] = n == 65535 ? 0xA0 : 0;
    epc[10] = (uint8_t)(n >> 8);
    epc[11] = (uint8_t)n;
}

static int item_of(const uint8_t *epc, size_t len)
{
    return len == 12 ? (epc[10] << 8) | epc[11] : -1;
}

static int cat_product(void *ctx, const uint8_t *epc, size_t len, struct sk_fusion_product *p)
{
    (void)ctx;
    int n = item_of(epc, len);

    static const struct {
        const char *sku, *name;
        int64_t price;
        int thr;
    } products[] = {{"", "", 0, -1},
                    {"cola", "Cola 0.5 l", 150, 2},
                    {"chips", "Chips", 250, -1},
                    {"water", "Water", 99, -1},
                    {"milk", "Milk", 130, -1}};

    int k = n / 100;
    if (k < 1 || k > 4) {
        return -ENOENT;
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->sku, sizeof(p->sku), "%s", products[k].sku);
    snprintf(p->name, sizeof(p->name), "%s", products[k].name);
    snprintf(p->gtin, sizeof(p->gtin), "0000000000000%d", k);
    snprintf(p->currency, sizeof(p->currency), "EUR");
    p->price_minor = products[k].price;
    p->restock_threshold = products[k].thr;
    p->restock_target = 6;
    return 0;
}

static int cat_planogram(void *ctx, const char *shelf, const char *sku)
{
    (void)ctx;
    static const char *const homes[][2] = {
            {"cola", "A1"}, {"chips", "B1"}, {"water", "C1"}, {"milk", "D1"}};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(homes[i][0], sku) == 0) {
            return strcmp(homes[i][1], shelf) == 0;
        }
    }
    return -ENOENT;
}

struct run {
    struct sk_clock_manual clk;
    struct sk_config *cfg;
    struct sk_fusion *f;
    /* core mode */
    struct sk_core *core;
    struct sk_ledger *ledger;
    char ledger_path[128];
    struct sk_fusion_catalog cat;
    struct script_result *res;
    char ids[32][SK_FUSION_ID_LEN + 1];
    int n_ids;
};

static int session_no(struct run *r, const char *id)
{
    for (int i = 0; i < r->n_ids; i++) {
        if (strcmp(r->ids[i], id) == 0) {
            return i + 1;
        }
    }
    if (r->n_ids == 32) {
        return 0;
    }
    snprintf(r->ids[r->n_ids], sizeof(r->ids[0]), "%s", id);
    return ++r->n_ids;
}

static void out(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(struct run *r, const char *fmt, ...)
{
    char *log = r->res->log;
    size_t used = strlen(log);
    if (used && used < sizeof(r->res->log) - 1) {
        log[used++] = '\n';
        log[used] = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log + used, sizeof(r->res->log) - used, fmt, ap);
    va_end(ap);
}

static void items_text(const struct sk_fusion_line *l, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < n && used < size; i++) {
        used += (size_t)snprintf(buf + used, size - used, "%s#%d%s", i ? "," : "",
                                 item_of(l[i].epc, l[i].epc_len),
                                 l[i].ev.exit_seen_wall_us ? "!" : "");
    }
    if (used < size) {
        snprintf(buf + used, size - used, "]");
    }
}

static int on_event(void *ctx, const struct sk_fusion_event *ev)
{
    struct run *r = ctx;
    const struct sk_fusion_session *s = ev->session;
    int sn = s ? session_no(r, s->id) : 0;
    int item = ev->line ? item_of(ev->line->epc, ev->line->epc_len) : -1;
    char items[512];
    switch (ev->type) {
    case SK_FEV_SESSION:
        switch (ev->what) {
        case SK_SESSION_OPENED:
            out(r, "open S%d%s", sn, s->entry_line[0] ? "" : " noentry");
            break;
        case SK_SESSION_JOINED:
            out(r, "join S%d t%u%s", sn, ev->join->new_track, ev->join->late ? " late" : "");
            break;
        case SK_SESSION_BOUND:
            out(r, "bind S%d %s", sn, s->account);
            break;
        case SK_SESSION_TIMED_OUT:
            out(r, "timeout S%d", sn);
            break;
        default:
            out(r, "session? S%d %d", sn, ev->what);
        }
        break;
    case SK_FEV_PICKUP: {
        static const char *const doubts[] = {"contested", "unseen", "camera", "outage"};
        char d[64] = "";
        size_t used = 0;
        for (size_t k = 0; k < 4; k++) {
            if (ev->line->ev.doubt & (1u << k)) {
                used += (size_t)snprintf(d + used, sizeof(d) - used, "%s%s",
                                         used ? "," : " doubt=", doubts[k]);
            }
        }
        if (ev->line->ev.alike) {
            snprintf(d + used, sizeof(d) - used, " alike=%u", ev->line->ev.alike);
        }
        out(r, "pick S%d #%d %s %s%s%s", sn, item, ev->shelf,
            sk_fusion_rule_name(ev->line->ev.rule), ev->line->ev.lost_track ? " lost" : "", d);
    } break;
    case SK_FEV_PUTBACK:
        switch (ev->what) {
        case SK_PUTBACK_FROM_CART:
            out(r, "back S%d #%d %s from=%s%s", sn, item, ev->shelf,
                ev->from_shelf ? ev->from_shelf : "-", ev->misplaced ? " misplaced" : "");
            break;
        case SK_PUTBACK_MOVED:
            out(r, "moved #%d %s from=%s", item, ev->shelf, ev->from_shelf ? ev->from_shelf : "-");
            break;
        case SK_PUTBACK_AFTER_CHECKOUT:
            out(r, "return #%d %s ref=S%d", item, ev->shelf, session_no(r, ev->ref_session));
            break;
        default:
            out(r, "back-removed #%d %s", item, ev->shelf);
        }
        break;
    case SK_FEV_REMOVAL:
        out(r, "removal #%d %s %s", item, ev->shelf,
            ev->what == SK_REMOVAL_STAFF ? "staff" : "unattributed");
        break;
    case SK_FEV_MISPLACED:
        out(r, "misplaced #%d %s", item, ev->shelf);
        break;
    case SK_FEV_RESTOCK:
        out(r, "restock #%d %s%s", item, ev->shelf, ev->what ? " session" : "");
        break;
    case SK_FEV_CHECKOUT: {
        items_text(s->lines, s->n_lines, items, sizeof(items));
        char review[128] = "";
        if (s->review) {
            char t[100];
            sk_fusion_review_text(s->review, t, sizeof(t));
            snprintf(review, sizeof(review), " review=%s", t);
        }
        char contested[160] = "";
        if (s->n_contested) {
            char c[128];
            items_text(s->contested, s->n_contested, c, sizeof(c));
            snprintf(contested, sizeof(contested), " contested=%s", c);
        }
        out(r, "checkout S%d %s%s%s%s%s", sn, items, s->account[0] ? " " : "", s->account,
            contested, review);
        break;
    }
    case SK_FEV_EXIT_WITHOUT_CHECKOUT:
        items_text(ev->items, ev->n_items, items, sizeof(items));
        out(r, "unpaid %s", items);
        break;
    case SK_FEV_CART_ABANDONED:
        items_text(ev->items, ev->n_items, items, sizeof(items));
        out(r, "abandoned S%d %s", sn, items);
        break;
    case SK_FEV_RESTOCK_SESSION: {
        size_t used = (size_t)snprintf(items, sizeof(items), "[");
        for (size_t i = 0; i < ev->n_restock && used < sizeof(items); i++) {
            used += (size_t)snprintf(items + used, sizeof(items) - used, "%s%s:%s:+%d=%d",
                                     i ? "," : "", ev->restock[i].shelf, ev->restock[i].sku,
                                     ev->restock[i].added, ev->restock[i].stock);
        }
        if (used < sizeof(items)) {
            snprintf(items + used, sizeof(items) - used, "]");
        }
        out(r, "restocked %s %s", ev->restock_id[0] ? ev->restock_id : "-", items);
        break;
    }
    default:
        out(r, "event? %d", ev->type);
    }
    return 0;
}

enum op_kind {
    OP_NEW,
    OP_MOVE,
    OP_LOST,
    OP_IN,
    OP_OUT,
    OP_ZIN,
    OP_ZOUT,
    OP_DEP,
    OP_ARR,
    OP_PORTAL,
    OP_BIND,
    OP_DONE,
    OP_EXPORT,
    OP_STALL,
    OP_HEALTH,
    OP_REACH,
};

struct op {
    int64_t t_us;
    int seq;
    enum op_kind kind;
    uint32_t track;
    float x, y;
    char name[SK_NAME_MAX]; /* zone, shelf, token, restock id */
    char arg[SK_NAME_MAX];
    int item;
    int64_t seen_us;   /* OP_DEP: when the item was last read (mono), 0 unknown */
    int64_t missed_us; /* OP_DEP: the first poll that missed it (mono), 0 unknown */
    int64_t first_us;  /* OP_ARR: its first read (mono), 0 unknown */
    int64_t absent_us; /* OP_ARR: the poll before that which did not read it, 0 unknown */
    int state;         /* OP_HEALTH: enum sk_health_state; OP_REACH: depth in percent */
    int64_t len_us;    /* OP_STALL: how long no tick comes */
};

static int by_time(const void *a, const void *b)
{
    const struct op *x = a, *y = b;
    if (x->t_us != y->t_us) {
        return x->t_us < y->t_us ? -1 : 1;
    }
    return x->seq - y->seq;
}

static int shelf_index(const struct sk_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        if (strcmp(cfg->shelves[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int64_t hold_of(const struct sk_config *cfg, int shelf)
{
    const struct sk_presence_preset_cfg *p = sk_config_preset(cfg, cfg->shelves[shelf].preset);
    return (int64_t)p->hold_ms * 1000;
}

/* Parses the script; "present" steps go into present. Returns the op count or < 0. */
static int parse(struct run *r, const char *script, struct op *ops, struct sk_tagset *present)
{
    char *copy = strdup(script);
    int n = 0;
    char *save = NULL;
    for (char *step = strtok_r(copy, ";", &save); step; step = strtok_r(NULL, ";", &save)) {
        char op[16], a[SK_NAME_MAX] = "", b[SK_NAME_MAX] = "", c[SK_NAME_MAX] = "",
                     d[SK_NAME_MAX] = "";
        long t;
        int k = sscanf(step, " %ld %15s %31s %31s %31s %31s", &t, op, a, b, c, d);
        if (k < 2 || n == MAX_STEPS) {
            fprintf(stderr, "bad step: %s\n", step);
            free(copy);
            return -EINVAL;
        }
        struct op *o = &ops[n];
        memset(o, 0, sizeof(*o));
        o->t_us = t * 1000;
        o->seq = n;
        if (strcmp(op, "new") == 0 || strcmp(op, "move") == 0) {
            o->kind = op[0] == 'n' ? OP_NEW : OP_MOVE;
            o->track = (uint32_t)atoi(a);
            o->x = (float)atof(b);
            o->y = (float)atof(c);
        } else if (strcmp(op, "lost") == 0) {
            o->kind = OP_LOST;
            o->track = (uint32_t)atoi(a);
            o->x = k >= 4 ? (float)atof(b) : 0;
            o->y = k >= 5 ? (float)atof(c) : 0;
        } else if (strcmp(op, "in") == 0 || strcmp(op, "out") == 0) {
            o->kind = op[0] == 'i' ? OP_IN : OP_OUT;
            o->track = (uint32_t)atoi(a);
        } else if (strcmp(op, "zin") == 0 || strcmp(op, "zout") == 0) {
            o->kind = op[1] == 'i' ? OP_ZIN : OP_ZOUT;
            o->track = (uint32_t)atoi(a);
            snprintf(o->name, sizeof(o->name), "%s", b);
            o->x = k >= 5 ? (float)atof(c) : 0;
            o->y = k >= 6 ? (float)atof(d) : 0;
        } else if (strcmp(op, "take") == 0 || strcmp(op, "dep") == 0 || strcmp(op, "put") == 0 ||
                   strcmp(op, "arr") == 0 || strcmp(op, "present") == 0 ||
                   strcmp(op, "badge") == 0 || strcmp(op, "unbadge") == 0) {
            int sh = shelf_index(r->cfg, a);
            if (sh < 0) {
                fprintf(stderr, "no shelf %s\n", a);
                free(copy);
                return -EINVAL;
            }
            snprintf(o->name, sizeof(o->name), "%s", a);
            o->item = op[0] == 'b' || op[0] == 'u' ? 65535 : atoi(b);
            if (strcmp(op, "take") == 0) {
                o->kind = OP_DEP;
                if (k >= 6 && strcmp(c, "late") == 0) {
                    /* reported d ms later than the hold (the bus thread stalled) */
                    o->seen_us = BASE_MONO_US + o->t_us;
                    o->t_us += atol(d) * 1000;
                } else if (k >= 6 && strcmp(c, "within") == 0) {
                    /* taken at t while its reader was out: last read at d, first missed at
                     * the step's sixth word */
                    char e[32] = "";
                    sscanf(step, " %*d %*s %*s %*s %*s %*s %31s", e);
                    o->seen_us = BASE_MONO_US + atol(d) * 1000;
                    o->missed_us = BASE_MONO_US + atol(e) * 1000;
                    o->t_us = atol(e) * 1000;
                }
                o->t_us += hold_of(r->cfg, sh);
            } else if (strcmp(op, "dep") == 0 || strcmp(op, "unbadge") == 0) {
                o->kind = OP_DEP;
            } else if (strcmp(op, "put") == 0) {
                o->kind = OP_ARR;
                if (k >= 6 && strcmp(c, "within") == 0) {
                    char e[32] = "";
                    sscanf(step, " %*d %*s %*s %*s %*s %*s %31s", e);
                    o->absent_us = BASE_MONO_US + atol(d) * 1000;
                    o->first_us = BASE_MONO_US + atol(e) * 1000;
                    o->t_us = atol(e) * 1000;
                }
                o->t_us += 300000;
            } else if (strcmp(op, "present") == 0) {
                const struct sk_shelf_cfg *s = &r->cfg->shelves[sh];
                uint8_t epc[12];
                script_epc(o->item, epc);
                struct sk_tag_key key;
                sk_tag_key_set(&key, s->reader, (uint8_t)(s->antenna ? s->antenna : 1), epc, 12);
                sk_tagset_add(present, &key, BASE_WALL_US);
                continue;
            } else {
                o->kind = OP_ARR;
            }
        } else if (strcmp(op, "portal") == 0) {
            o->kind = OP_PORTAL;
            o->item = atoi(a);
        } else if (strcmp(op, "bind") == 0) {
            o->kind = OP_BIND;
            snprintf(o->name, sizeof(o->name), "%s", a);
            o->item = k >= 4 ? atoi(b) : 1; /* persons: a party on one account */
        } else if (strcmp(op, "done") == 0) {
            o->kind = OP_DONE;
            snprintf(o->name, sizeof(o->name), "%s", a);
            snprintf(o->arg, sizeof(o->arg), "%s", b);
        } else if (strcmp(op, "export") == 0) {
            o->kind = OP_EXPORT;
        } else if (strcmp(op, "stall") == 0) {
            o->kind = OP_STALL;
            o->len_us = atol(a) * 1000;
        } else if (strcmp(op, "down") == 0 || strcmp(op, "up") == 0) {
            o->kind = OP_HEALTH;
            snprintf(o->name, sizeof(o->name), "%s", a);
            o->state = op[0] == 'd' ? SK_HEALTH_DOWN : SK_HEALTH_UP;
        } else if (strcmp(op, "reach") == 0 || strcmp(op, "blob") == 0) {
            o->kind = OP_REACH;
            bool blob = op[0] == 'b';
            o->track = blob ? 0 : (uint32_t)atoi(a);
            snprintf(o->name, sizeof(o->name), "%s", blob ? a : b);
            o->len_us = atol(blob ? b : c) * 1000;
            o->state = 80;
            /* vision's word on whether another shopper's arm could have been there */
            o->item = !blob && k >= 6 ? (strcmp(d, "sole") == 0     ? SK_REACH_SOLE
                                         : strcmp(d, "shared") == 0 ? SK_REACH_SHARED
                                                                    : SK_REACH_SOLE_UNKNOWN)
                                      : SK_REACH_SOLE_UNKNOWN;
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            free(copy);
            return -EINVAL;
        }
        n++;
    }
    free(copy);
    qsort(ops, (size_t)n, sizeof(*ops), by_time);
    return n;
}

static int copy_present(const struct sk_tag_key *k, int64_t since, void *ctx)
{
    return sk_ledger_present_add(ctx, k, since) < 0 ? -EIO : 0;
}

static void
tag_obs(struct run *r, struct sk_obs *o, const struct op *op, const char *reader, int antenna)
{
    o->type = op->kind == OP_DEP ? SK_OBS_TAG_DEPARTED : SK_OBS_TAG_ARRIVED;
    sk_obs_set_source(o, reader);
    o->u.tag.antenna = (uint8_t)antenna;
    o->u.tag.epc_len = 12;
    script_epc(op->item, o->u.tag.epc);
    o->u.tag.reads = 3;
    (void)r;
}

static int core_open(struct run *r);

/* Core mode: one observation in one transaction, as the runtime's batches do. */
static int core_handle(struct run *r, const struct sk_obs *o)
{
    int rc = sk_ledger_begin(r->ledger);
    if (rc < 0) {
        return rc;
    }
    rc = sk_core_handle(r->core, o);
    if (rc == 0) {
        rc = sk_ledger_commit(r->ledger);
    }
    if (rc < 0) {
        while (sk_ledger_depth(r->ledger) > 0) {
            sk_ledger_rollback(r->ledger);
        }
        sk_core_set_ledger(r->core, r->ledger);
        if (script_fault_point && (rc = sk_ledger_begin(r->ledger)) >= 0) {
            /* The runtime retries the held observation. */
            rc = sk_core_handle(r->core, o);
            rc = rc < 0 ? rc : sk_ledger_commit(r->ledger);
        }
    }
    return rc < 0 ? rc : 0;
}

/* Core mode: a command applied to the engine inside a transaction, its state saved with it. */
static int core_command(struct run *r, const struct op *op)
{
    int rc = sk_ledger_begin(r->ledger);
    if (rc < 0) {
        return rc;
    }
    if (op->kind == OP_BIND) {
        rc = sk_fusion_bind(r->f, op->name, NULL, op->item,
                            sk_clock_mono_us(&r->clk.clock) + 60000000);
    } else {
        const char *shelf = op->name;
        rc = sk_fusion_restock_done(r->f, &shelf, strcmp(shelf, "all") == 0 ? 0 : 1, op->arg);
    }
    if (rc == 0) {
        rc = sk_fusion_ledger_save(r->f, r->ledger, false);
    }
    if (rc < 0) {
        sk_ledger_rollback(r->ledger);
        return rc;
    }
    return sk_ledger_commit(r->ledger);
}

static int apply(struct run *r, const struct op *op)
{
    struct sk_obs o;
    memset(&o, 0, sizeof(o));
    o.mono_us = sk_clock_mono_us(&r->clk.clock);
    o.wall_us = sk_clock_wall_us(&r->clk.clock);
    sk_obs_set_source(&o, op->track >= 100 ? "cam2" : "cam");
    o.u.track.track_id = op->track;
    o.u.track.x = op->x;
    o.u.track.y = op->y;
    switch (op->kind) {
    case OP_NEW:
        o.type = SK_OBS_TRACK_NEW;
        break;
    case OP_MOVE:
        o.type = SK_OBS_TRACK_MOVE;
        break;
    case OP_LOST:
        o.type = SK_OBS_TRACK_LOST;
        break;
    case OP_IN:
    case OP_OUT:
        o.type = SK_OBS_LINE_CROSS;
        snprintf(o.u.track.zone, sizeof(o.u.track.zone), "door");
        o.u.track.dir = op->kind == OP_IN ? SK_LINE_IN : SK_LINE_OUT;
        o.u.track.x = 600;
        o.u.track.y = 50;
        break;
    case OP_ZIN:
    case OP_ZOUT:
        o.type = op->kind == OP_ZIN ? SK_OBS_ZONE_ENTER : SK_OBS_ZONE_LEAVE;
        snprintf(o.u.track.zone, sizeof(o.u.track.zone), "%s", op->name);
        break;
    case OP_DEP:
    case OP_ARR: {
        const struct sk_shelf_cfg *s = &r->cfg->shelves[shelf_index(r->cfg, op->name)];
        tag_obs(r, &o, op, s->reader, s->antenna ? s->antenna : 1);
        o.u.tag.last_seen_us = op->seen_us;
        o.u.tag.first_missed_us = op->missed_us;
        o.u.tag.first_seen_us = op->first_us;
        o.u.tag.absent_us = op->absent_us;
        break;
    }
    case OP_HEALTH:
        /* a reader's, or the camera's with the name "cam" */
        o.type = strcmp(op->name, "cam") == 0 ? SK_OBS_CAMERA_HEALTH : SK_OBS_READER_HEALTH;
        sk_obs_set_source(&o, op->name);
        memset(&o.u, 0, sizeof(o.u));
        o.u.health.state = (uint8_t)op->state;
        break;
    case OP_REACH:
        o.type = SK_OBS_REACH;
        snprintf(o.u.track.zone, sizeof(o.u.track.zone), "%s", op->name);
        o.u.track.dwell_ms = (uint32_t)(op->len_us / 1000);
        o.u.track.reach = (float)op->state / 100.0f;
        o.u.track.sole = (uint8_t)op->item;
        break;
    case OP_PORTAL:
        tag_obs(r, &o, op, "portal", 1);
        break;
    case OP_BIND:
        if (r->core) {
            return core_command(r, op);
        }
        return sk_fusion_bind(r->f, op->name, NULL, op->item, o.mono_us + 60000000);
    case OP_DONE: {
        if (r->core) {
            return core_command(r, op);
        }
        const char *shelf = op->name;
        return sk_fusion_restock_done(r->f, &shelf, strcmp(shelf, "all") == 0 ? 0 : 1, op->arg);
    }
    case OP_STALL:
        return 0; /* the run loop handles it */
    case OP_EXPORT: {
        if (r->core) {
            /* A restart: everything the new core knows comes from the ledger file. */
            sk_core_free(r->core);
            r->core = NULL;
            sk_ledger_close(r->ledger);
            r->ledger = NULL;
            return core_open(r);
        }
        /* A restart: the state goes through JSON text into a new engine; time moves on. */
        cJSON *st = sk_fusion_export(r->f);
        char *text = cJSON_PrintUnformatted(st);
        cJSON_Delete(st);
        sk_fusion_free(r->f);
        r->f = NULL;
        int rc = sk_fusion_new(r->cfg, &r->clk.clock, &r->cat, on_event, r, &r->f);
        cJSON *back = cJSON_Parse(text);
        free(text);
        if (rc == 0) {
            rc = sk_fusion_import(r->f, back);
        }
        cJSON_Delete(back);
        return rc;
    }
    }
    return r->core ? core_handle(r, &o) : sk_fusion_handle(r->f, &o);
}

/* Core mode: the catalog in the ledger. Items 101..499 get tag mappings; 9xx stay unknown. */
static int seed_ledger(struct run *r)
{
    static const struct sk_product products[] = {
            {"cola", "00000000000017", "Cola 0.5 l", 150, "EUR", 2, 6},
            {"chips", "00000000000024", "Chips", 250, "EUR", 0, 6},
            {"water", "00000000000031", "Water", 99, "EUR", 0, 6},
            {"milk", "00000000000048", "Milk", 130, "EUR", 0, 6},
    };
    static const char *const homes[] = {"A1", "B1", "C1", "D1"};
    int rc = sk_ledger_sync_shelves(r->ledger, r->cfg);
    for (size_t i = 0; rc >= 0 && i < 4; i++) {
        rc = sk_ledger_product_put(r->ledger, &products[i]);
        if (rc == 0) {
            rc = sk_ledger_planogram_put(r->ledger, homes[i], products[i].sku, 10);
        }
        for (int n = (int)(i + 1) * 100; rc == 0 && n < (int)(i + 2) * 100; n++) {
            uint8_t epc[12];
            script_epc(n, epc);
            rc = sk_ledger_tag_put(r->ledger, epc, 12, products[i].sku);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "seeding the ledger: %s\n", sk_ledger_errmsg(r->ledger));
    }
    return rc < 0 ? rc : 0;
}

static int core_open(struct run *r)
{
    struct sk_ledger_opts lo = {.path = r->ledger_path,
                                .store_id = r->cfg->store_id,
                                .device_id = r->cfg->device_id,
                                .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_NO_CHECK,
                                .clock = &r->clk.clock};
    char msg[256];
    int rc = sk_ledger_open(&lo, msg, sizeof(msg), &r->ledger);
    if (rc < 0) {
        fprintf(stderr, "%s\n", msg);
        return rc;
    }
    if ((rc = sk_core_new(r->cfg, &r->clk.clock, &r->core)) < 0) {
        return rc;
    }
    r->f = sk_core_fusion(r->core);
    sk_core_set_listener(r->core, on_event, r);
    rc = sk_core_set_ledger(r->core, r->ledger);
    return rc < 0 ? rc : 0;
}

static int topic_row(const struct sk_outbox_row *row, void *ctx)
{
    struct script_result *res = ctx;
    size_t used = strlen(res->topics);
    snprintf(res->topics + used, sizeof(res->topics) - used, "%s%s", used ? "\n" : "", row->topic);
    size_t have = res->payloads ? strlen(res->payloads) : 0;
    char *p = realloc(res->payloads, have + row->payload_len + 2);
    if (p) {
        memcpy(p + have, row->payload, row->payload_len);
        p[have + row->payload_len] = '\n';
        p[have + row->payload_len + 1] = 0;
        res->payloads = p;
    }
    return 0;
}

static int count_move(const struct sk_movement_row *row, void *ctx)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static int run_script(const char *fusion_cfg,
                      const char *script,
                      int64_t end_ms,
                      bool core,
                      struct script_result *ret)
{
    memset(ret, 0, sizeof(*ret));
    sk_log_set_level(SK_LOG_ERR);
    char dir[64], path[128];
    sk_test_tmpdir(dir, sizeof(dir));
    char text[sizeof(store_text) + 1024];
    snprintf(text, sizeof(text), "%sfusion = { %s };\n", store_text, fusion_cfg ? fusion_cfg : "");
    sk_test_write(dir, "store.cfg", text, path, sizeof(path));
    struct run r;
    memset(&r, 0, sizeof(r));
    r.res = ret;
    snprintf(r.ledger_path, sizeof(r.ledger_path), "%s/ledger.db", dir);
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts opts = {.data_dir = SK_TEST_DATADIR};
    int rc = sk_config_load(path, &opts, &diag, &r.cfg);
    if (rc < 0) {
        sk_diag_print(&diag, stderr);
        sk_diag_free(&diag);
        sk_test_rmdir(dir);
        return rc;
    }
    sk_diag_free(&diag);
    sk_clock_manual_init(&r.clk, BASE_MONO_US, BASE_WALL_US);
    r.cat = (struct sk_fusion_catalog){.product = cat_product, .planogram = cat_planogram};
    struct sk_tagset *present = NULL;
    static struct op ops[MAX_STEPS];
    rc = sk_tagset_new(10000, &present);
    if (rc == 0 && !core) {
        rc = sk_fusion_new(r.cfg, &r.clk.clock, &r.cat, on_event, &r, &r.f);
    } else if (rc == 0) {
        rc = core_open(&r);
        rc = rc < 0 ? rc : seed_ledger(&r);
    }
    int n = rc == 0 ? parse(&r, script, ops, present) : rc;
    if (n >= 0) {
        if (core) {
            /* What lay on the shelves before the start, as the ledger keeps it. */
            sk_tagset_foreach(present, NULL, copy_present, r.ledger);
            sk_core_set_ledger(r.core, r.ledger);
            if (script_fault_point) {
                ledger_test_fault(r.ledger, script_fault_point, script_fault_countdown,
                                  script_fault_err);
            }
        } else {
            sk_fusion_load_present(r.f, present);
        }
        int64_t now = 0, stalled_until = 0;
        for (int i = 0; i <= n; i++) {
            int64_t until = i < n ? ops[i].t_us : end_ms * 1000;
            while (now + TICK_US <= until) {
                now += TICK_US;
                sk_clock_manual_advance(&r.clk, TICK_US);
                if (now < stalled_until) {
                    continue; /* the process is not scheduled: no tick */
                }
                if (core) {
                    sk_core_tick(r.core);
                } else {
                    ret->errors += sk_fusion_tick(r.f) < 0;
                }
            }
            if (i < n && ops[i].kind == OP_STALL) {
                stalled_until = ops[i].t_us + ops[i].len_us;
            } else if (i < n) {
                sk_clock_manual_advance(&r.clk, ops[i].t_us - now);
                now = ops[i].t_us;
                ret->errors += apply(&r, &ops[i]) < 0;
            }
        }
        sk_fusion_get_stats(r.f, &ret->stats);
        if (core) {
            sk_ledger_outbox_rows(r.ledger, 0, 1000, false, topic_row, ret);
            struct sk_movement_filter mf = {0};
            sk_ledger_movements(r.ledger, &mf, count_move, &ret->movements);
        }
        rc = 0;
    } else {
        rc = n;
    }
    sk_tagset_free(present);
    if (core) {
        sk_core_free(r.core);
        sk_ledger_close(r.ledger);
    } else {
        sk_fusion_free(r.f);
    }
    sk_config_free(r.cfg);
    sk_test_rmdir(dir);
    return rc;
}

int script_run(const char *fusion_cfg,
               const char *script,
               int64_t end_ms,
               struct script_result *ret)
{
    return run_script(fusion_cfg, script, end_ms, false, ret);
}

int script_run_core(const char *fusion_cfg,
                    const char *script,
                    int64_t end_ms,
                    struct script_result *ret)
{
    return run_script(fusion_cfg, script, end_ms, true, ret);
}
