/* SPDX-License-Identifier: MIT */
/* Scenario files: parsing with file:line errors, planning walks, takes and puts, ground truth. */
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/buf.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/vreader.h"

/*
 * DESIGN
 * Parsing turns lines into declarations (stock, shoppers with their actions, restocks,
 * faults, binds). Planning then runs in two passes. First every shopper walks alone: each
 * action advances its own clock (walking at its speed along the lane, settling a second at a
 * shelf before reaching, 1.2 s per item taken or put with the tag changing half-way), which
 * gives its waypoints, its door crossings and the moments of its takes and puts. Second,
 * all takes, puts, restocks and exits of everybody are replayed in time order against the
 * shelves' contents: that picks which tag each take removes (the first of that sku on the
 * shelf), checks that a put puts back something held, and yields each visit's cart at its
 * exit and each shelf's final stock: the ground truth.
 */

#define LANE_W    72.0f  /* lane walked westwards (towards A1) */
#define LANE_E    112.0f /* lane walked eastwards (towards the door) */
#define IN_X      300.0f /* the way in through the door ... */
#define OUT_X     252.0f /* ... and the way out, apart so nobody meets head-on */
#define DOOR_Y    205.0f
#define INSIDE_Y  188.0f
#define OUTSIDE_Y 262.0f
#define SETTLE_S  1.0 /* standing at a shelf before reaching */
#define REACH_S   1.2 /* per item taken or put */
#define LINE_LEN  512
#define MIN_GAP   36.0f /* closer than this, two shoppers' blobs (and shadows) touch */
#define MIN_TOUCH 16.0f /* at one shelf, shoulder to shoulder: closer is one body in another */
#define STOCK_S   0.6   /* per item a stocker puts on a shelf */
#define GIVE_PX   70.0f /* how far an item can be handed */

static struct sc_product catalog[SC_MAX_SKUS] = {
        {"cola", "Cola 0.5 l", "", 150},     {"chips", "Potato chips", "", 250},
        {"water", "Still water", "", 99},    {"candy", "Candy bar", "", 120},
        {"soap", "Hand soap", "", 300},      {"bread", "Rye bread", "", 280},
        {"coffee", "Coffee beans", "", 650}, {"milk", "Milk 1 l", "", 130},
};

const struct sc_product *sc_product(int i)
{
    if (i < 0 || i >= SC_MAX_SKUS) {
        return NULL;
    }
    if (!catalog[i].gtin[0]) {
        /* GTIN-14: indicator 0, GS1 company prefix 0614141, item reference 0000i. */
        char d[14];
        snprintf(d, sizeof(d), "006141410000%d", i + 1);
        snprintf(catalog[i].gtin, sizeof(catalog[i].gtin), "%s%d", d, sk_gtin_check_digit(d));
    }
    return &catalog[i];
}

int sc_product_find(const char *sku)
{
    for (int i = 0; i < SC_MAX_SKUS; i++) {
        if (strcmp(catalog[i].sku, sku) == 0) {
            return i;
        }
    }
    return -1;
}

const char *sc_shelf_name(int shelf)
{
    static const char *const names[SC_MAX_SHELVES] = {"A1", "B1", "C1", "D1", "E1", "F1", "G1"};
    return shelf >= 0 && shelf < SC_MAX_SHELVES ? names[shelf] : "?";
}

const char *sc_camera_name(const struct scenario *sc, int cam)
{
    if (sc->n_cameras < 2) {
        return "overhead";
    }
    return cam == 0 ? "west" : "east";
}

float sc_camera_offset(const struct scenario *sc, int cam)
{
    if (sc->n_cameras < 2) {
        return 0;
    }
    return cam == 0 ? -100.0f : 100.0f;
}

void sc_shelf_zone(int shelf, float r[4])
{
    int col = shelf < 4 ? shelf : shelf - 4;
    r[0] = 8.0f + 80.0f * (float)col;
    r[2] = r[0] + 64.0f;
    r[1] = shelf < 4 ? 6.0f : 128.0f;
    r[3] = shelf < 4 ? 56.0f : 180.0f;
}

void sc_shelf_edge(int shelf, float e[4])
{
    float r[4];
    sc_shelf_zone(shelf, r);
    float y = shelf < 4 ? r[1] : r[3];
    e[0] = r[0];
    e[1] = y;
    e[2] = r[2];
    e[3] = y;
}

static void stand_point(int shelf, float offset, float *x, float *y)
{
    float r[4];
    sc_shelf_zone(shelf, r);
    *x = (r[0] + r[2]) / 2 + offset;
    *y = shelf < 4 ? 30.0f : 154.0f;
}

static int shelf_find(const char *name)
{
    for (int i = 0; i < SC_MAX_SHELVES; i++) {
        if (strcmp(sc_shelf_name(i), name) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- declarations ---------------------------------------------------------------------------- */

enum act_kind {
    A_GO = 1,
    A_TAKE,
    A_PUT,
    A_WAIT,
    A_LEAVE,
    A_ENTER,
    A_GIVE,  /* hand an item held to another shopper */
    A_STOCK, /* put new items on the shelf (a stocker) */
    A_HIDE,  /* step out of the camera's view at the picture's edge, come back */
};

struct act {
    int kind;
    int shelf, sku, count;
    float offset;         /* GO, and TAKE/PUT with reach_at: px from the shelf's middle */
    bool reach_at;        /* TAKE/PUT: the arm goes to offset, not straight ahead */
    bool by_entry;        /* LEAVE: out the way in */
    char to[SC_NAME_MAX]; /* GIVE: whom */
    double seconds;
    int line;
};

struct decl_shopper {
    struct sc_shopper s;
    struct act acts[SC_MAX_ACTIONS];
    size_t n_acts;
    int line;
    char with[SC_NAME_MAX]; /* walks with this shopper (a child with a parent): no gap rule */
    int with_idx;           /* its index, -1 */
    bool badge;             /* carries a staff badge the shelves it stands at read */
};

struct decl_restock {
    double at;
    int shelf, sku, count;
    bool badge;
    int line;
};

struct decl_fault {
    double at, duration;
    int shelf; /* -1 portal */
    int fault, value;
    int line;
};

struct decl_bind {
    double at;
    char token[64];
    int persons; /* the next this many entries (a party on one account) */
};

struct parse {
    const char *file;
    int line;
    char *err;
    size_t err_size;
    struct scenario *sc;
    struct decl_shopper *shoppers;
    size_t n_shoppers;
    struct decl_shopper *open; /* between "shopper" and "end" */
    struct decl_restock restocks[SC_MAX_RESTOCKS];
    size_t n_restocks;
    struct decl_fault faults[SC_MAX_FAULTS];
    size_t n_faults;
    struct decl_bind binds[SC_MAX_SHOPPERS];
    size_t n_binds;
    int stock[SC_MAX_SHELVES][SC_MAX_SKUS];
    bool duration_set;
};

static int fail(struct parse *p, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct parse *p, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->err && p->err_size) {
        if (line > 0) {
            snprintf(p->err, p->err_size, "%s:%d: %s", p->file, line, msg);
        } else {
            snprintf(p->err, p->err_size, "%s: %s", p->file, msg);
        }
    }
    return SK_ESCENARIO;
}

static bool num(const char *s, double lo, double hi, double *ret)
{
    char *end;
    double v = strtod(s, &end);
    if (!s[0] || *end || !isfinite(v) || v < lo || v > hi) {
        return false;
    }
    *ret = v;
    return true;
}

static bool inum(const char *s, int lo, int hi, int *ret)
{
    double v;
    if (!num(s, lo, hi, &v) || v != (double)(int)v) {
        return false;
    }
    *ret = (int)v;
    return true;
}

static bool token_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max) {
        return false;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') {
            return false;
        }
    }
    return true;
}

static int want_shelf(struct parse *p, const char *s, int *ret)
{
    int shelf = shelf_find(s);
    if (shelf < 0) {
        return fail(p, p->line, "\"%s\" is not a shelf (A1 to G1)", s);
    }
    *ret = shelf;
    return 0;
}

static int want_sku(struct parse *p, const char *s, int *ret)
{
    int sku = sc_product_find(s);
    if (sku < 0) {
        return fail(p, p->line,
                    "\"%s\" is not a product (cola, chips, water, candy, soap, bread, coffee, "
                    "milk)",
                    s);
    }
    *ret = sku;
    return 0;
}

static int shopper_line(struct parse *p, char **w, int n)
{
    struct decl_shopper *d = p->open;
    const char *k = w[0];
    if (strcmp(k, "end") == 0) {
        if (n != 1) {
            return fail(p, p->line, "end takes nothing after it");
        }
        p->open = NULL;
        return 0;
    }
    if (d->n_acts == SC_MAX_ACTIONS) {
        return fail(p, p->line, "more than %d actions for one shopper", SC_MAX_ACTIONS);
    }
    struct act *a = &d->acts[d->n_acts];
    memset(a, 0, sizeof(*a));
    a->line = p->line;
    a->count = 1;
    int r;
    if (strcmp(k, "go") == 0) {
        if (n < 2 || n > 3) {
            return fail(p, p->line, "usage: go SHELF [left|center|right|OFFSET]");
        }
        if ((r = want_shelf(p, w[1], &a->shelf)) < 0) {
            return r;
        }
        a->kind = A_GO;
        double off = 0;
        if (n == 3) {
            if (strcmp(w[2], "left") == 0) {
                a->offset = -20;
            } else if (strcmp(w[2], "right") == 0) {
                a->offset = 20;
            } else if (num(w[2], -28, 28, &off)) {
                a->offset = (float)off;
            } else if (strcmp(w[2], "center") != 0) {
                return fail(p, p->line,
                            "\"%s\": the side is left, center, right or an offset in pixels "
                            "along the shelf (-28..28)",
                            w[2]);
            }
        }
    } else if (strcmp(k, "give") == 0) {
        if (n != 4 || strcmp(w[2], "to") != 0) {
            return fail(p, p->line, "usage: give SKU to SHOPPER");
        }
        if ((r = want_sku(p, w[1], &a->sku)) < 0) {
            return r;
        }
        if (!token_ok(w[3], SC_NAME_MAX)) {
            return fail(p, p->line, "\"%s\" is no shopper's name", w[3]);
        }
        snprintf(a->to, sizeof(a->to), "%s", w[3]);
        a->kind = A_GIVE;
    } else if (strcmp(k, "stock") == 0) {
        if (n < 2 || n > 3) {
            return fail(p, p->line, "usage: stock SKU [COUNT]");
        }
        if ((r = want_sku(p, w[1], &a->sku)) < 0) {
            return r;
        }
        if (n == 3 && !inum(w[2], 1, 50, &a->count)) {
            return fail(p, p->line, "\"%s\": a count is 1..50", w[2]);
        }
        a->kind = A_STOCK;
    } else if (strcmp(k, "hide") == 0) {
        if (n != 2 || !num(w[1], 0.5, 600, &a->seconds)) {
            return fail(p, p->line, "usage: hide SECONDS (0.5..600)");
        }
        a->kind = A_HIDE;
    } else if (strcmp(k, "take") == 0 || strcmp(k, "put") == 0) {
        /* take SKU [COUNT] [at OFFSET]: at, the arm goes to that point of the shelf (px from
         * its middle, along it), past a neighbour if one stands there: reaching across */
        bool at = n >= 4 && strcmp(w[n - 2], "at") == 0;
        int words = at ? n - 2 : n;
        if (words < 2 || words > 3 || (n >= 4 && !at)) {
            return fail(p, p->line, "usage: %s SKU [COUNT] [at OFFSET]", k);
        }
        if ((r = want_sku(p, w[1], &a->sku)) < 0) {
            return r;
        }
        if (words == 3 && !inum(w[2], 1, 50, &a->count)) {
            return fail(p, p->line, "\"%s\": a count is 1..50", w[2]);
        }
        double off = 0;
        if (at && !num(w[n - 1], -30, 30, &off)) {
            return fail(p, p->line, "\"%s\": the point of the shelf is -30..30 px from its middle",
                        w[n - 1]);
        }
        a->reach_at = at;
        a->offset = (float)off;
        a->kind = k[0] == 't' ? A_TAKE : A_PUT;
    } else if (strcmp(k, "wait") == 0) {
        if (n != 2 || !num(w[1], 0, 600, &a->seconds)) {
            return fail(p, p->line, "usage: wait SECONDS (0..600)");
        }
        a->kind = A_WAIT;
    } else if (strcmp(k, "leave") == 0) {
        if (n > 2 || (n == 2 && strcmp(w[1], "entry") != 0)) {
            return fail(p, p->line, "usage: leave [entry]");
        }
        a->kind = A_LEAVE;
        a->by_entry = n == 2;
    } else if (strcmp(k, "enter") == 0) {
        if (n != 3 || strcmp(w[1], "after") != 0 || !num(w[2], 0, 3600, &a->seconds)) {
            return fail(p, p->line, "usage: enter after SECONDS");
        }
        a->kind = A_ENTER;
    } else {
        return fail(p, p->line,
                    "\"%s\" is not a shopper action (go, take, put, give, stock, hide, wait, "
                    "leave, enter, end)",
                    k);
    }
    d->n_acts++;
    return 0;
}

static int fault_kind(const char *s, int *ret)
{
    static const struct {
        const char *name;
        int fault;
    } kinds[] = {{"silent", SK_VFAULT_SILENT},       {"delay", SK_VFAULT_DELAY},
                 {"exception", SK_VFAULT_EXCEPTION}, {"corrupt", SK_VFAULT_CORRUPT},
                 {"readprob", SK_VFAULT_READ_PROB},  {"drop", SK_VFAULT_DROP}};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, s) == 0) {
            *ret = kinds[i].fault;
            return 0;
        }
    }
    return -EINVAL;
}

static int top_line(struct parse *p, char **w, int n)
{
    struct scenario *sc = p->sc;
    const char *k = w[0];
    int r;
    if (strcmp(k, "name") == 0) {
        if (n < 2) {
            return fail(p, p->line, "usage: name TEXT");
        }
        size_t used = 0;
        sc->name[0] = 0;
        for (int i = 1; i < n; i++) {
            int c = snprintf(sc->name + used, sizeof(sc->name) - used, "%s%s", i > 1 ? " " : "",
                             w[i]);
            if (c < 0 || (size_t)c >= sizeof(sc->name) - used) {
                return fail(p, p->line, "the name is longer than %zu characters",
                            sizeof(sc->name) - 1);
            }
            used += (size_t)c;
        }
    } else if (strcmp(k, "seed") == 0) {
        int v;
        if (n != 2 || !inum(w[1], 0, 1000000000, &v)) {
            return fail(p, p->line, "usage: seed N (0..1000000000)");
        }
        sc->seed = (uint32_t)v;
    } else if (strcmp(k, "duration") == 0) {
        if (n != 2 || !num(w[1], 5, 3600, &sc->duration)) {
            return fail(p, p->line, "usage: duration SECONDS (5..3600)");
        }
        p->duration_set = true;
    } else if (strcmp(k, "read_rate") == 0) {
        if (n != 2 || !inum(w[1], 1, 100, &sc->read_rate)) {
            return fail(p, p->line, "usage: read_rate PERCENT (1..100)");
        }
    } else if (strcmp(k, "exit_portal") == 0) {
        if (n != 2 || (strcmp(w[1], "yes") != 0 && strcmp(w[1], "no") != 0)) {
            return fail(p, p->line, "usage: exit_portal yes|no");
        }
        sc->portal = w[1][0] == 'y';
    } else if (strcmp(k, "satellite") == 0) {
        if (n < 2) {
            return fail(p, p->line, "usage: satellite SHELF|camera [SHELF|camera...]");
        }
        for (int i = 1; i < n; i++) {
            int shelf = 0;
            if (strcmp(w[i], "camera") == 0) {
                sc->satellite_camera = true;
                sc->boards = true;
                continue;
            }
            if ((r = want_shelf(p, w[i], &shelf)) < 0) {
                return r;
            }
            sc->satellite[shelf] = true;
            sc->boards = true;
        }
    } else if (strcmp(k, "cameras") == 0) {
        if (n != 2 || !inum(w[1], 1, SC_MAX_CAMERAS, &sc->n_cameras)) {
            return fail(p, p->line, "usage: cameras 1|2");
        }
    } else if (strcmp(k, "walk_speed") == 0) {
        if (n != 2 || !inum(w[1], 20, 300, &sc->speed_px)) {
            return fail(p, p->line, "usage: walk_speed PIXELS_PER_SECOND (20..300)");
        }
    } else if (strcmp(k, "stock") == 0) {
        int shelf = 0, sku = 0, count = 0;
        if (n != 4) {
            return fail(p, p->line, "usage: stock SHELF SKU COUNT");
        }
        if ((r = want_shelf(p, w[1], &shelf)) < 0 || (r = want_sku(p, w[2], &sku)) < 0) {
            return r;
        }
        if (!inum(w[3], 1, 200, &count)) {
            return fail(p, p->line, "\"%s\": a count is 1..200", w[3]);
        }
        p->stock[shelf][sku] += count;
        sc->used[shelf] = true;
        if (sc->home[sku] < 0) {
            sc->home[sku] = shelf;
        }
    } else if (strcmp(k, "home") == 0) {
        int shelf = 0, sku = 0;
        if (n != 3) {
            return fail(p, p->line, "usage: home SKU SHELF");
        }
        if ((r = want_sku(p, w[1], &sku)) < 0 || (r = want_shelf(p, w[2], &shelf)) < 0) {
            return r;
        }
        sc->home[sku] = shelf;
        sc->used[shelf] = true;
    } else if (strcmp(k, "shopper") == 0) {
        if (n < 4 || strcmp(w[2], "at") != 0) {
            return fail(p, p->line,
                        "usage: shopper NAME at SECONDS [look LUMA] [size RADIUS] [speed PX] "
                        "[with SHOPPER] [badge]");
        }
        if (!token_ok(w[1], SC_NAME_MAX)) {
            return fail(p, p->line, "\"%s\": a name is 1..31 letters, digits, '-', '_', '.'", w[1]);
        }
        if (p->n_shoppers == SC_MAX_SHOPPERS) {
            return fail(p, p->line, "more than %d shoppers", SC_MAX_SHOPPERS);
        }
        for (size_t i = 0; i < p->n_shoppers; i++) {
            if (strcmp(p->shoppers[i].s.name, w[1]) == 0) {
                return fail(p, p->line, "shopper %s is declared twice (first at line %d)", w[1],
                            p->shoppers[i].line);
            }
        }
        struct decl_shopper *d = &p->shoppers[p->n_shoppers++];
        memset(d, 0, sizeof(*d));
        d->line = p->line;
        snprintf(d->s.name, sizeof(d->s.name), "%s", w[1]);
        d->s.luma = 60 + (int)((p->n_shoppers * 37) % 150);
        d->s.radius = 12.0f;
        d->s.speed = 0;
        if (!num(w[3], 0, 3600, &d->s.at)) {
            return fail(p, p->line, "\"%s\": the time is 0..3600 seconds", w[3]);
        }
        for (int i = 4; i < n; i += 2) {
            double v;
            if (strcmp(w[i], "badge") == 0) {
                d->badge = true;
                i--; /* a word alone */
            } else if (i + 1 == n) {
                return fail(p, p->line, "\"%s\" wants a value after it", w[i]);
            } else if (strcmp(w[i], "with") == 0 && token_ok(w[i + 1], SC_NAME_MAX)) {
                snprintf(d->with, sizeof(d->with), "%s", w[i + 1]);
            } else if (strcmp(w[i], "look") == 0 && num(w[i + 1], 20, 235, &v)) {
                d->s.luma = (int)v;
            } else if (strcmp(w[i], "size") == 0 && num(w[i + 1], 6, 20, &v)) {
                d->s.radius = (float)v;
            } else if (strcmp(w[i], "speed") == 0 && num(w[i + 1], 20, 300, &v)) {
                d->s.speed = (float)v;
            } else {
                return fail(p, p->line,
                            "\"%s %s\": look is 20..235, size 6..20 pixels, speed 20..300 "
                            "pixels per second, with names a shopper",
                            w[i], w[i + 1]);
            }
        }
        p->open = d;
    } else if (strcmp(k, "restock") == 0) {
        struct decl_restock *d = &p->restocks[p->n_restocks];
        if (p->n_restocks == SC_MAX_RESTOCKS) {
            return fail(p, p->line, "more than %d restocks", SC_MAX_RESTOCKS);
        }
        if ((n != 6 && n != 7) || strcmp(w[1], "at") != 0 || !num(w[2], 0, 3600, &d->at)) {
            return fail(p, p->line, "usage: restock at SECONDS SHELF SKU COUNT [badge]");
        }
        if ((r = want_shelf(p, w[3], &d->shelf)) < 0 || (r = want_sku(p, w[4], &d->sku)) < 0) {
            return r;
        }
        if (!inum(w[5], 1, 100, &d->count)) {
            return fail(p, p->line, "\"%s\": a count is 1..100", w[5]);
        }
        if (n == 7 && strcmp(w[6], "badge") != 0) {
            return fail(p, p->line, "\"%s\": only \"badge\" may follow the count", w[6]);
        }
        d->badge = n == 7;
        d->line = p->line;
        p->sc->used[d->shelf] = true;
        if (p->sc->home[d->sku] < 0) {
            p->sc->home[d->sku] = d->shelf;
        }
        p->n_restocks++;
    } else if (strcmp(k, "fault") == 0) {
        struct decl_fault *d = &p->faults[p->n_faults];
        if (p->n_faults == SC_MAX_FAULTS) {
            return fail(p, p->line, "more than %d faults", SC_MAX_FAULTS);
        }
        /* fault at T READER KIND [VALUE] for SECONDS */
        if ((n != 7 && n != 8) || strcmp(w[1], "at") != 0 || !num(w[2], 0, 3600, &d->at) ||
            strcmp(w[n - 2], "for") != 0 || !num(w[n - 1], 0.1, 3600, &d->duration)) {
            return fail(p, p->line,
                        "usage: fault at SECONDS SHELF|portal KIND [VALUE] for SECONDS");
        }
        if (strcmp(w[3], "portal") == 0) {
            d->shelf = -1;
        } else if ((r = want_shelf(p, w[3], &d->shelf)) < 0) {
            return r;
        }
        if (fault_kind(w[4], &d->fault) < 0) {
            return fail(p, p->line,
                        "\"%s\": a fault is silent, delay MS, exception CODE, corrupt PERCENT, "
                        "readprob PERCENT or drop",
                        w[4]);
        }
        d->value = 1;
        if (n == 8 && !inum(w[5], 0, 100000, &d->value)) {
            return fail(p, p->line, "\"%s\": the fault's value is 0..100000", w[5]);
        }
        d->line = p->line;
        p->n_faults++;
    } else if (strcmp(k, "bind") == 0) {
        struct decl_bind *d = &p->binds[p->n_binds];
        if (p->n_binds == SC_MAX_SHOPPERS) {
            return fail(p, p->line, "more than %d binds", SC_MAX_SHOPPERS);
        }
        d->persons = 1;
        if ((n != 4 && n != 6) || strcmp(w[1], "at") != 0 || !num(w[2], 0, 3600, &d->at) ||
            !token_ok(w[3], sizeof(d->token)) || strlen(w[3]) < 8 ||
            (n == 6 && (strcmp(w[4], "for") != 0 || !inum(w[5], 1, 8, &d->persons)))) {
            return fail(p, p->line,
                        "usage: bind at SECONDS TOKEN [for PERSONS] (token: 8..63 letters, "
                        "digits, '-', '_', '.'; persons 1..8)");
        }
        snprintf(d->token, sizeof(d->token), "%s", w[3]);
        p->n_binds++;
    } else {
        return fail(p, p->line,
                    "\"%s\" is not a scenario statement (name, seed, duration, read_rate, "
                    "exit_portal, walk_speed, satellite, cameras, stock, home, shopper, restock, "
                    "fault, "
                    "bind)",
                    k);
    }
    return 0;
}

/* ---- planning -------------------------------------------------------------------------------- */

enum intent_kind {
    I_TAKE = 1,
    I_PUT,
    I_EXIT,
    I_RESTOCK,
    I_GIVE
};

struct intent {
    double t;
    int seq;
    int kind;
    int shopper, visit, shelf, sku;
    int to; /* I_GIVE: the shopper who receives it */
    int line;
};

/* A hand-over: its arm points at the receiver, known once everybody's walk is planned. */
struct give {
    int giver, receiver;
    size_t reach; /* in the giver's reaches */
    double t;
    int line;
};

struct planner {
    struct parse *p;
    struct intent *in;
    size_t n_in, cap_in;
    struct sc_event *ev;
    size_t n_ev;
    int seq;
    struct give gives[SC_MAX_ACTIONS];
    size_t n_gives;
};

static int add_intent(struct planner *pl, const struct intent *i)
{
    struct intent *n = sk_grow(pl->in, &pl->cap_in, pl->n_in + 1, sizeof(*n), 10000000);
    if (!n) {
        return -errno;
    }
    pl->in = n;
    pl->in[pl->n_in] = *i;
    pl->in[pl->n_in++].seq = pl->seq++;
    return 0;
}

static int add_event(struct planner *pl, const struct sc_event *e)
{
    if (pl->n_ev == SC_MAX_EVENTS) {
        return fail(pl->p, 0, "more than %d reader events", SC_MAX_EVENTS);
    }
    pl->ev[pl->n_ev++] = *e;
    return 0;
}

struct walker {
    struct sc_shopper *s;
    double t;
    float x, y;
    bool inside;
    int shelf;
    int visit; /* index in sc->visits of the open visit, -1 */
};

static int waypoint(struct walker *w, double t, float x, float y)
{
    struct sc_shopper *s = w->s;
    if (s->n_path && t <= s->path[s->n_path - 1].t) {
        t = s->path[s->n_path - 1].t + 0.01;
    }
    if (s->n_path == SC_MAX_WAYPTS) {
        return -ENOSPC;
    }
    s->path[s->n_path++] = (struct sc_waypoint){t, x, y};
    w->t = t;
    w->x = x;
    w->y = y;
    return 0;
}

/* Walks straight to (x, y); returns when it crosses the door line on the way, or -1. */
static double walk(struct walker *w, float x, float y)
{
    float dx = x - w->x, dy = y - w->y;
    double d = sqrt((double)dx * dx + (double)dy * dy);
    if (d < 0.5) {
        return -1;
    }
    double cross = -1;
    if ((w->y - DOOR_Y) * (y - DOOR_Y) < 0) {
        cross = w->t + d / w->s->speed * (double)(DOOR_Y - w->y) / (double)dy;
    }
    waypoint(w, w->t + d / w->s->speed, x, y);
    return cross;
}

/*
 * Walks from where the shopper stands to (x, y) the way shoppers keep right: westwards on
 * the upper lane, eastwards on the lower one, so two shoppers never walk through each other.
 */
static void route(struct walker *w, float x, float y)
{
    float lane = x < w->x ? LANE_W : LANE_E;
    if (fabsf(w->y - lane) > 0.5f) {
        walk(w, w->x, lane);
    }
    walk(w, x, lane);
    walk(w, x, y);
}

static int new_visit(struct parse *p, struct walker *w, double enter_t)
{
    struct scenario *sc = p->sc;
    struct sc_visit *v = realloc(sc->visits, (sc->n_visits + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    sc->visits = v;
    memset(&v[sc->n_visits], 0, sizeof(*v));
    v[sc->n_visits].shopper = (int)(w->s - sc->shoppers);
    v[sc->n_visits].enter_t = enter_t;
    w->visit = (int)sc->n_visits++;
    return 0;
}

/* The shopper's arm goes out towards (x, y) from t for dur seconds. */
static int arm(struct parse *p, struct walker *w, double t, double dur, float x, float y, int line)
{
    struct sc_shopper *s = w->s;
    if (s->n_reaches == SC_MAX_REACHES) {
        return fail(p, line, "shopper %s reaches more than %d times", s->name, SC_MAX_REACHES);
    }
    s->reaches[s->n_reaches++] = (struct sc_reach){t, dur, x, y};
    return 0;
}

/* The shopper's arm goes out across the shelf's edge for most of dur, the tag changing in the
 * middle of it. */
static int
arm_to_shelf(struct parse *p, struct walker *w, int shelf, double dur, int line, const float *at)
{
    float e[4];
    sc_shelf_edge(shelf, e);
    float across = shelf < 4 ? -3.0f : 3.0f; /* just past the edge, onto the shelf */
    float x = at ? 0.5f * (e[0] + e[2]) + *at : w->x;
    return arm(p, w, w->t + 0.1, dur - 0.2, x, e[1] + across, line);
}

/* count reaches into the shelf the walker stands at, dur each: every one an intent like `what`
 * (its kind, who, sku) in the middle of the reach, the arm across the shelf's edge, the shopper
 * standing still meanwhile. */
static int reach_into_shelf(struct parse *p,
                            struct planner *pl,
                            struct walker *w,
                            const struct intent *what,
                            int count,
                            double dur,
                            const float *at)
{
    int r = 0;
    for (int k = 0; k < count && r >= 0; k++) {
        struct intent in = *what;
        in.t = w->t + dur / 2;
        in.shelf = w->shelf;
        r = add_intent(pl, &in);
        if (r >= 0) {
            r = arm_to_shelf(p, w, w->shelf, dur, in.line, at);
        }
        waypoint(w, w->t + dur, w->x, w->y);
    }
    return r;
}

/* A staff badge arrives at (or leaves) the shelf its shopper stands at. */
static int badge_event(struct planner *pl, int shelf, double t, bool arrives)
{
    struct sc_event b = {.t = t, .kind = SC_EV_BADGE, .shelf = shelf, .value = arrives};
    return add_event(pl, &b);
}

static int enter(struct parse *p, struct walker *w)
{
    double cross = walk(w, IN_X, INSIDE_Y);
    w->inside = true;
    return new_visit(p, w, cross);
}

static int shopper_named(const struct parse *p, const char *name)
{
    for (size_t i = 0; i < p->n_shoppers; i++) {
        if (strcmp(p->shoppers[i].s.name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int plan_shopper(struct planner *pl, struct decl_shopper *d)
{
    struct parse *p = pl->p;
    struct scenario *sc = p->sc;
    struct sc_shopper *s = &sc->shoppers[sc->n_shoppers];
    *s = d->s;
    if (s->speed <= 0) {
        s->speed = (float)sc->speed_px;
    }
    s->path = calloc(SC_MAX_WAYPTS, sizeof(*s->path));
    s->reaches = calloc(SC_MAX_REACHES, sizeof(*s->reaches));
    if (!s->path || !s->reaches) {
        free(s->path);
        free(s->reaches);
        s->path = NULL;
        s->reaches = NULL;
        return -ENOMEM;
    }
    sc->n_shoppers++;
    struct walker w = {.s = s, .shelf = -1, .visit = -1};
    bool entered = false;
    waypoint(&w, s->at, IN_X, OUTSIDE_Y);
    int r = 0;
    for (size_t i = 0; i < d->n_acts && r >= 0; i++) {
        struct act *a = &d->acts[i];
        int shopper = (int)(s - sc->shoppers);
        if (!w.inside && a->kind != A_ENTER && (a->kind != A_GO || entered)) {
            return fail(p, a->line, "shopper %s is outside the store here (use enter after)",
                        s->name);
        }
        switch (a->kind) {
        case A_ENTER:
            if (w.inside) {
                return fail(p, a->line, "shopper %s is inside already", s->name);
            }
            walk(&w, IN_X, OUTSIDE_Y); /* round the door, out of sight */
            waypoint(&w, w.t + a->seconds, IN_X, OUTSIDE_Y);
            r = enter(p, &w);
            entered = true;
            break;
        case A_GO: {
            if (!w.inside) {
                r = enter(p, &w);
                entered = true;
            }
            float x, y;
            stand_point(a->shelf, a->offset, &x, &y);
            if (w.shelf == a->shelf && fabsf(w.x - x) < 1 && fabsf(w.y - y) < 1) {
                break;
            }
            if (d->badge && w.shelf >= 0) {
                r = badge_event(pl, w.shelf, w.t, false);
            }
            if (w.y > INSIDE_Y - 1) {
                walk(&w, w.x, LANE_W); /* just in: up to the lanes */
            }
            route(&w, x, y);
            if (d->badge && r >= 0) {
                r = badge_event(pl, a->shelf, w.t, true);
            }
            waypoint(&w, w.t + SETTLE_S, x, y);
            w.shelf = a->shelf;
            sc->used[a->shelf] = true;
            break;
        }
        case A_STOCK:
            if (w.shelf < 0) {
                return fail(p, a->line, "shopper %s stands at no shelf (go SHELF first)", s->name);
            }
            if (r >= 0) {
                const struct intent in = {.kind = I_RESTOCK, .sku = a->sku, .line = a->line};
                r = reach_into_shelf(p, pl, &w, &in, a->count, STOCK_S, NULL);
            }
            if (sc->home[a->sku] < 0) {
                sc->home[a->sku] = w.shelf;
            }
            break;
        case A_GIVE: {
            int to = shopper_named(p, a->to);
            if (to < 0 || to == shopper) {
                return fail(p, a->line, "\"%s\": give to another shopper of this scenario", a->to);
            }
            if (pl->n_gives == SC_MAX_ACTIONS) {
                return fail(p, a->line, "more than %d hand-overs", SC_MAX_ACTIONS);
            }
            struct intent in = {.t = w.t + REACH_S / 2,
                                .kind = I_GIVE,
                                .shopper = shopper,
                                .visit = w.visit,
                                .sku = a->sku,
                                .to = to,
                                .line = a->line};
            r = add_intent(pl, &in);
            if (r >= 0) {
                /* pointed at the receiver once its walk is known (resolve_gives) */
                pl->gives[pl->n_gives++] = (struct give){shopper, to, s->n_reaches, in.t, a->line};
                r = arm(p, &w, w.t + 0.1, REACH_S - 0.2, w.x, w.y, a->line);
            }
            waypoint(&w, w.t + REACH_S, w.x, w.y);
            break;
        }
        case A_HIDE: {
            /* Only beside the picture's edge: along the shelf, out of the camera's view. */
            float out_x;
            if (w.shelf == 0 || w.shelf == 4) {
                out_x = -2.5f * s->radius - 8.0f;
            } else if (w.shelf == 3) {
                out_x = 320.0f + 2.5f * s->radius + 8.0f;
            } else {
                return fail(p, a->line,
                            "shopper %s: hide only at a shelf by the picture's edge (A1, D1, E1)",
                            s->name);
            }
            float bx = w.x, by = w.y;
            walk(&w, out_x, by);
            waypoint(&w, w.t + a->seconds, out_x, by);
            walk(&w, bx, by);
            waypoint(&w, w.t + SETTLE_S, bx, by);
            break;
        }
        case A_TAKE:
        case A_PUT:
            if (w.shelf < 0) {
                return fail(p, a->line, "shopper %s stands at no shelf (go SHELF first)", s->name);
            }
            if (r >= 0) {
                const struct intent in = {.kind = a->kind == A_TAKE ? I_TAKE : I_PUT,
                                          .shopper = shopper,
                                          .visit = w.visit,
                                          .sku = a->sku,
                                          .line = a->line};
                r = reach_into_shelf(p, pl, &w, &in, a->count, REACH_S,
                                     a->reach_at ? &a->offset : NULL);
            }
            break;
        case A_WAIT:
            waypoint(&w, w.t + (a->seconds > 0 ? a->seconds : 0.01), w.x, w.y);
            break;
        case A_LEAVE: {
            if (!w.inside) {
                return fail(p, a->line, "shopper %s is not inside", s->name);
            }
            if (w.shelf >= 0) {
                if (d->badge) {
                    r = badge_event(pl, w.shelf, w.t, false);
                    if (r < 0) {
                        return r;
                    }
                }
                waypoint(&w, w.t + 0.6, w.x, w.y);
            }
            /* Out the way out, or against the way in (leave entry). */
            float door_x = a->by_entry ? IN_X : OUT_X;
            if (fabsf(w.x - door_x) > 0.5f || w.y < INSIDE_Y) {
                float lane = LANE_E;
                if (fabsf(w.y - lane) > 0.5f) {
                    walk(&w, w.x, lane);
                }
                walk(&w, door_x, lane);
            }
            walk(&w, door_x, INSIDE_Y);
            double cross = walk(&w, door_x, OUTSIDE_Y);
            sc->visits[w.visit].exit_t = cross;
            struct intent in = {.t = cross,
                                .kind = I_EXIT,
                                .shopper = shopper,
                                .visit = w.visit,
                                .line = a->line};
            r = add_intent(pl, &in);
            w.inside = false;
            w.shelf = -1;
            w.visit = -1;
            break;
        }
        }
        if (s->n_path >= SC_MAX_WAYPTS) {
            return fail(p, a->line, "shopper %s walks too far (%d waypoints at most)", s->name,
                        SC_MAX_WAYPTS);
        }
    }
    if (r < 0) {
        return r;
    }
    if (w.inside) {
        return fail(p, d->line, "shopper %s never leaves (end with leave)", s->name);
    }
    if (!entered) {
        return fail(p, d->line, "shopper %s never comes in (go SHELF)", s->name);
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct intent *x = a, *y = b;
    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    return x->seq - y->seq;
}

static int ev_by_time(const void *a, const void *b)
{
    const struct sc_event *x = a, *y = b;
    return x->t < y->t ? -1 : (x->t > y->t ? 1 : 0);
}

static int new_item(struct scenario *sc, int sku, int shelf, int *serials)
{
    if (sc->n_items == SC_MAX_ITEMS) {
        return -ENOSPC;
    }
    struct sc_item *it = &sc->items[sc->n_items];
    memset(it, 0, sizeof(*it));
    it->sku = sku;
    it->shelf = shelf;
    it->final_shelf = shelf;
    sk_epc_encode_sgtin96(sc_product(sku)->gtin, 7, (uint64_t)++serials[sku], 1, it->epc);
    sk_epc_to_hex(it->epc, 12, it->hex, sizeof(it->hex));
    return (int)sc->n_items++;
}

/* Replays takes, puts, restocks and exits against the shelves: tags, carts, truth. */
/* Item i goes on the visit's cart at its exit: it is paid for (taken_in -2). */
static int charge(struct sc_visit *v, size_t i, int *taken_in)
{
    int *c = realloc(v->cart, (v->n_cart + 1) * sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    v->cart = c;
    v->cart[v->n_cart++] = (int)i;
    taken_in[i] = -2; /* paid */
    return 0;
}

static int settle(struct planner *pl)
{
    struct parse *p = pl->p;
    struct scenario *sc = p->sc;
    int serials[SC_MAX_SKUS] = {0};
    int r;
    for (int shelf = 0; shelf < SC_MAX_SHELVES; shelf++) {
        for (int sku = 0; sku < SC_MAX_SKUS; sku++) {
            for (int k = 0; k < p->stock[shelf][sku]; k++) {
                if (new_item(sc, sku, shelf, serials) < 0) {
                    return fail(p, 0, "more than %d items", SC_MAX_ITEMS);
                }
            }
        }
    }
    /* who holds what: holder[item] = shopper, bought[item] = visit it was paid in or -1 */
    int holder[SC_MAX_ITEMS], taken_in[SC_MAX_ITEMS];
    for (size_t i = 0; i < SC_MAX_ITEMS; i++) {
        holder[i] = -1;
        taken_in[i] = -1;
    }
    for (size_t k = 0; k < p->n_restocks; k++) {
        struct decl_restock *d = &p->restocks[k];
        for (int j = 0; j < d->count; j++) {
            struct intent in = {.t = d->at + 0.5 * j,
                                .kind = I_RESTOCK,
                                .shelf = d->shelf,
                                .sku = d->sku,
                                .line = d->line};
            if ((r = add_intent(pl, &in)) < 0) {
                return r;
            }
        }
        if (d->badge) {
            struct sc_event b = {
                    .t = d->at - 1.0, .kind = SC_EV_BADGE, .shelf = d->shelf, .value = 1};
            if ((r = add_event(pl, &b)) < 0) {
                return r;
            }
            b.t = d->at + 0.5 * d->count + 1.0;
            b.value = 0;
            if ((r = add_event(pl, &b)) < 0) {
                return r;
            }
        }
    }
    qsort(pl->in, pl->n_in, sizeof(*pl->in), by_time);
    for (size_t k = 0; k < pl->n_in; k++) {
        struct intent *in = &pl->in[k];
        struct sc_event e = {.t = in->t, .shelf = in->shelf};
        int found = -1;
        switch (in->kind) {
        case I_RESTOCK:
            if ((found = new_item(sc, in->sku, -1, serials)) < 0) {
                return fail(p, in->line, "more than %d items", SC_MAX_ITEMS);
            }
            sc->items[found].final_shelf = in->shelf;
            e.kind = SC_EV_TAG_ADD;
            e.item = found;
            break;
        case I_TAKE:
            for (size_t i = 0; i < sc->n_items && found < 0; i++) {
                if (sc->items[i].final_shelf == in->shelf && sc->items[i].sku == in->sku) {
                    found = (int)i;
                }
            }
            if (found < 0) {
                return fail(p, in->line, "at %.1f s shelf %s holds no %s to take", in->t,
                            sc_shelf_name(in->shelf), sc_product(in->sku)->sku);
            }
            sc->items[found].final_shelf = -1;
            holder[found] = in->shopper;
            taken_in[found] = in->visit;
            e.kind = SC_EV_TAG_DEL;
            e.item = found;
            break;
        case I_PUT: {
            /* What this visit took goes back first (the newest); else a paid item returns. */
            for (size_t i = sc->n_items; i-- > 0 && found < 0;) {
                if (holder[i] == in->shopper && sc->items[i].sku == in->sku &&
                    taken_in[i] == in->visit) {
                    found = (int)i;
                }
            }
            for (size_t i = 0; i < sc->n_items && found < 0; i++) {
                if (holder[i] == in->shopper && sc->items[i].sku == in->sku) {
                    found = (int)i;
                    /* paid for: a return; handed over by one still inside: back unpaid */
                    sc->returns += taken_in[i] == -2;
                }
            }
            if (found < 0) {
                return fail(p, in->line, "at %.1f s the shopper holds no %s to put back", in->t,
                            sc_product(in->sku)->sku);
            }
            holder[found] = -1;
            taken_in[found] = -1;
            sc->items[found].final_shelf = in->shelf;
            if (sc->home[in->sku] != in->shelf) {
                sc->misplaced++;
            }
            e.kind = SC_EV_TAG_ADD;
            e.item = found;
            break;
        }
        case I_GIVE: {
            /* What this visit took goes over first (the newest); else anything it holds. The
             * store charges whoever took it from the shelf, wherever it goes then. */
            for (int pass = 0; pass < 2 && found < 0; pass++) {
                for (size_t i = sc->n_items; i-- > 0 && found < 0;) {
                    if (holder[i] == in->shopper && sc->items[i].sku == in->sku &&
                        (pass == 1 || taken_in[i] == in->visit)) {
                        found = (int)i;
                    }
                }
            }
            if (found < 0) {
                return fail(p, in->line, "at %.1f s the shopper holds no %s to give", in->t,
                            sc_product(in->sku)->sku);
            }
            holder[found] = in->to;
            continue;
        }
        case I_EXIT: {
            struct sc_visit *v = &sc->visits[in->visit];
            /* Charged: what this visit took and did not put back, wherever it went. */
            for (size_t i = 0; i < sc->n_items; i++) {
                if (taken_in[i] == in->visit && holder[i] != in->shopper) {
                    if (charge(v, i, taken_in) < 0) {
                        return -ENOMEM;
                    }
                }
            }
            for (size_t i = 0; i < sc->n_items; i++) {
                if (holder[i] != in->shopper) {
                    continue;
                }
                if (taken_in[i] == in->visit) {
                    if (charge(v, i, taken_in) < 0) {
                        return -ENOMEM;
                    }
                }
                if (sc->portal) {
                    struct sc_event pe = {
                            .t = in->t - 0.3, .kind = SC_EV_PORTAL_ADD, .item = (int)i};
                    if ((r = add_event(pl, &pe)) < 0) {
                        return r;
                    }
                    pe.t = in->t + 1.5;
                    pe.kind = SC_EV_PORTAL_DEL;
                    if ((r = add_event(pl, &pe)) < 0) {
                        return r;
                    }
                }
            }
            continue;
        }
        }
        if ((r = add_event(pl, &e)) < 0) {
            return r;
        }
    }
    for (size_t i = 0; i < sc->n_items; i++) {
        if (sc->items[i].final_shelf >= 0) {
            sc->final_stock[sc->items[i].final_shelf][sc->items[i].sku]++;
        }
    }
    return 0;
}

/* Where shopper s is at t (times only grow from call to call: *cursor remembers the segment),
 * and whether it is in the picture (a shopper beside it, out of view, is not). */
static bool position_at(const struct sc_shopper *s, double t, size_t *cursor, float *x, float *y)
{
    if (!s->n_path || t < s->path[0].t || t > s->path[s->n_path - 1].t) {
        return false;
    }
    size_t k = *cursor;
    while (k + 2 < s->n_path && s->path[k + 1].t < t) {
        k++;
    }
    *cursor = k;
    const struct sc_waypoint *a = &s->path[k], *b = &s->path[k + 1 < s->n_path ? k + 1 : k];
    float f = b->t > a->t ? (float)((t - a->t) / (b->t - a->t)) : 0;
    *x = a->x + (b->x - a->x) * f;
    *y = a->y + (b->y - a->y) * f;
    return *y < 240.0f + 12.0f && *x > -s->radius && *x < 320.0f + s->radius;
}

/* The shelf whose front a point is at (its zone, out to just short of the lane), or -1. */
static int shelf_area(float x, float y)
{
    for (int shelf = 0; shelf < SC_MAX_SHELVES; shelf++) {
        float r[4];
        sc_shelf_zone(shelf, r);
        bool rows = shelf < 4 ? y >= 0 && y < LANE_W - 4 : y > LANE_E + 4 && y <= INSIDE_Y;
        if (rows && x >= r[0] - 8 && x <= r[2] + 8) {
            return shelf;
        }
    }
    return -1;
}

/* People keep their distance: a script that walks two shoppers into each other is refused,
 * since no camera could tell them apart either, except at one shelf, where they may stand
 * shoulder to shoulder (down to MIN_TOUCH), and a child with its parent (with: no rule).
 * Sampled every 50 ms: O(time x shoppers^2). */
static int check_gaps(struct parse *p)
{
    struct scenario *sc = p->sc;
    double end = 0;
    size_t cursor[SC_MAX_SHOPPERS] = {0};
    float x[SC_MAX_SHOPPERS], y[SC_MAX_SHOPPERS];
    bool in[SC_MAX_SHOPPERS];
    for (size_t i = 0; i < sc->n_shoppers; i++) {
        const struct sc_shopper *s = &sc->shoppers[i];
        end = fmax(end, s->n_path ? s->path[s->n_path - 1].t : 0);
    }
    for (long step = 0; step * 0.05 <= end; step++) {
        double t = (double)step * 0.05;
        for (size_t i = 0; i < sc->n_shoppers; i++) {
            in[i] = position_at(&sc->shoppers[i], t, &cursor[i], &x[i], &y[i]);
        }
        for (size_t i = 0; i < sc->n_shoppers; i++) {
            for (size_t j = i + 1; in[i] && j < sc->n_shoppers; j++) {
                float d = hypotf(x[i] - x[j], y[i] - y[j]);
                if (p->shoppers[i].with_idx == (int)j || p->shoppers[j].with_idx == (int)i) {
                    continue;
                }
                int area = shelf_area(x[i], y[i]);
                float gap = area >= 0 && area == shelf_area(x[j], y[j]) ? MIN_TOUCH : MIN_GAP;
                if (in[j] && d < gap) {
                    return fail(p, p->shoppers[j].line,
                                "shoppers %s and %s come within %.0f px of each other at %.1f s "
                                "(near %.0f,%.0f): people keep %.0f px apart (%.0f at one shelf; "
                                "shift a start time, or stand left/right)",
                                sc->shoppers[i].name, sc->shoppers[j].name, d, t, x[i], y[i],
                                MIN_GAP, MIN_TOUCH);
                }
            }
        }
    }
    return 0;
}

/* Hand-overs: the giver's arm points at the receiver, who must stand within reach. */
static int resolve_gives(struct planner *pl)
{
    struct scenario *sc = pl->p->sc;
    for (size_t k = 0; k < pl->n_gives; k++) {
        const struct give *g = &pl->gives[k];
        size_t cg = 0, cr = 0;
        float gx, gy, rx, ry;
        bool gin = position_at(&sc->shoppers[g->giver], g->t, &cg, &gx, &gy);
        bool rin = position_at(&sc->shoppers[g->receiver], g->t, &cr, &rx, &ry);
        if (!gin || !rin || hypotf(gx - rx, gy - ry) > GIVE_PX) {
            return fail(pl->p, g->line, "at %.1f s %s is not within %.0f px of %s to hand it over",
                        g->t, sc->shoppers[g->receiver].name, GIVE_PX, sc->shoppers[g->giver].name);
        }
        struct sc_reach *a = &sc->shoppers[g->giver].reaches[g->reach];
        a->x = rx;
        a->y = ry;
    }
    return 0;
}

static int plan(struct parse *p)
{
    struct scenario *sc = p->sc;
    struct planner pl = {.p = p};
    sc->items = calloc(SC_MAX_ITEMS, sizeof(*sc->items));
    sc->shoppers = calloc(p->n_shoppers ? p->n_shoppers : 1, sizeof(*sc->shoppers));
    pl.ev = calloc(SC_MAX_EVENTS, sizeof(*pl.ev));
    int r = sc->items && sc->shoppers && pl.ev ? 0 : -ENOMEM;
    for (size_t i = 0; r >= 0 && i < p->n_shoppers; i++) {
        struct decl_shopper *d = &p->shoppers[i];
        d->with_idx = d->with[0] ? shopper_named(p, d->with) : -1;
        if (d->with[0] && (d->with_idx < 0 || d->with_idx == (int)i)) {
            r = fail(p, d->line, "\"with %s\": no other shopper of that name", d->with);
        }
    }
    for (size_t i = 0; r >= 0 && i < p->n_shoppers; i++) {
        r = plan_shopper(&pl, &p->shoppers[i]);
    }
    if (r >= 0) {
        r = resolve_gives(&pl);
    }
    if (r >= 0) {
        r = check_gaps(p);
    }
    if (r >= 0) {
        r = settle(&pl);
    }
    for (size_t k = 0; r >= 0 && k < p->n_faults; k++) {
        struct decl_fault *d = &p->faults[k];
        struct sc_event e = {.t = d->at,
                             .kind = SC_EV_FAULT,
                             .shelf = d->shelf,
                             .fault = d->fault,
                             .value = d->value};
        r = add_event(&pl, &e);
        e.t = d->at + d->duration;
        e.fault = d->fault == SK_VFAULT_READ_PROB ? SK_VFAULT_READ_PROB : SK_VFAULT_NONE;
        e.value = d->fault == SK_VFAULT_READ_PROB ? sc->read_rate : 0;
        if (r >= 0) {
            r = add_event(&pl, &e);
        }
        if (d->shelf >= 0) {
            sc->used[d->shelf] = true;
        }
    }
    for (size_t k = 0; r >= 0 && k < p->n_binds; k++) {
        struct sc_event e = {.t = p->binds[k].at, .kind = SC_EV_BIND, .value = p->binds[k].persons};
        snprintf(e.token, sizeof(e.token), "%s", p->binds[k].token);
        r = add_event(&pl, &e);
        /* The visits that enter first after the bind, as many as it is for, are the account's. */
        for (int person = 0; person < p->binds[k].persons; person++) {
            struct sc_visit *best = NULL;
            for (size_t v = 0; v < sc->n_visits; v++) {
                struct sc_visit *vi = &sc->visits[v];
                if (vi->enter_t >= p->binds[k].at && !vi->token[0] &&
                    (!best || vi->enter_t < best->enter_t)) {
                    best = vi;
                }
            }
            if (best) {
                snprintf(best->token, sizeof(best->token), "%s", p->binds[k].token);
            }
        }
    }
    if (r >= 0) {
        qsort(pl.ev, pl.n_ev, sizeof(*pl.ev), ev_by_time);
        sc->events = pl.ev;
        sc->n_events = pl.n_ev;
        pl.ev = NULL;
        double end = 0;
        for (size_t v = 0; v < sc->n_visits; v++) {
            end = fmax(end, sc->visits[v].exit_t);
        }
        for (size_t e = 0; e < sc->n_events; e++) {
            end = fmax(end, sc->events[e].t);
        }
        if (!p->duration_set) {
            sc->duration = ceil(end + 10.0);
        } else if (sc->duration < end + 6.0) {
            r = fail(p, 0, "duration %.0f s ends before the last visit settled (%.0f s needed)",
                     sc->duration, ceil(end + 6.0));
        }
        for (int i = SC_MAX_SHELVES - 1; i >= 0 && !sc->n_shelves; i--) {
            if (sc->used[i]) {
                sc->n_shelves = i + 1;
            }
        }
    }
    free(pl.in);
    free(pl.ev);
    return r;
}

int sc_parse(const char *name, const char *text, char *err, size_t err_size, struct scenario **ret)
{
    struct scenario *sc = calloc(1, sizeof(*sc));
    struct parse p = {.file = name, .err = err, .err_size = err_size, .sc = sc};
    p.shoppers = calloc(SC_MAX_SHOPPERS, sizeof(*p.shoppers));
    if (!sc || !p.shoppers) {
        free(sc);
        free(p.shoppers);
        return -ENOMEM;
    }
    snprintf(sc->path, sizeof(sc->path), "%s", name);
    sc->seed = 1;
    sc->read_rate = 100;
    sc->speed_px = 80;
    sc->n_cameras = 1;
    for (int i = 0; i < SC_MAX_SKUS; i++) {
        sc->home[i] = -1;
    }
    int r = 0;
    const char *line = text;
    while (r == 0 && *line) {
        p.line++;
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= LINE_LEN) {
            r = fail(&p, p.line, "line longer than %d characters", LINE_LEN - 1);
            break;
        }
        char buf[LINE_LEN];
        memcpy(buf, line, len);
        buf[len] = 0;
        line = nl ? nl + 1 : line + len;
        char *hash = strchr(buf, '#');
        if (hash) {
            *hash = 0;
        }
        char *w[16];
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(buf, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
            if (n == 16) {
                r = fail(&p, p.line, "more than 16 words");
                break;
            }
            w[n++] = t;
        }
        if (r || n == 0) {
            continue;
        }
        for (int i = 0; i < n && !r; i++) {
            for (const char *c = w[i]; *c && !r; c++) {
                if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
                    r = fail(&p, p.line, "only printable ASCII is allowed");
                }
            }
        }
        if (!r) {
            r = p.open ? shopper_line(&p, w, n) : top_line(&p, w, n);
        }
    }
    if (r == 0 && p.open) {
        r = fail(&p, p.open->line, "shopper %s has no end", p.open->s.name);
    }
    if (r == 0 && !p.n_shoppers && !p.n_restocks) {
        r = fail(&p, 0, "nothing happens: no shopper and no restock");
    }
    if (r == 0 && !sc->name[0]) {
        r = fail(&p, 0, "the scenario has no name (name TEXT)");
    }
    if (r == 0) {
        r = plan(&p);
    }
    free(p.shoppers);
    if (r < 0) {
        if (r != SK_ESCENARIO && err && err_size) {
            snprintf(err, err_size, "%s: %s", name, sk_strerror(r));
        }
        sc_free(sc);
        return r;
    }
    *ret = sc;
    return 0;
}

int sc_load(const char *path, char *err, size_t err_size, struct scenario **ret)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, err_size, "%s: %s", path, strerror(e));
        return -e;
    }
    char *text;
    size_t n;
    int r = sk_read_bounded(f, SC_FILE_MAX, &text, &n);
    if (r < 0) {
        if (r != -ENOMEM) {
            snprintf(err, err_size, "%s: %s", path, strerror(-r));
        }
        return r;
    }
    if (n > SC_FILE_MAX) {
        free(text);
        snprintf(err, err_size, "%s: larger than %d bytes", path, SC_FILE_MAX);
        return SK_ESCENARIO;
    }
    if (memchr(text, 0, n)) {
        free(text);
        snprintf(err, err_size, "%s: not a text file (NUL byte)", path);
        return SK_ESCENARIO;
    }
    r = sc_parse(path, text, err, err_size, ret);
    free(text);
    return r;
}

void sc_free(struct scenario *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n_shoppers; i++) {
        free(s->shoppers[i].path);
        free(s->shoppers[i].reaches);
    }
    for (size_t i = 0; i < s->n_visits; i++) {
        free(s->visits[i].cart);
    }
    free(s->shoppers);
    free(s->visits);
    free(s->items);
    free(s->events);
    free(s);
}
