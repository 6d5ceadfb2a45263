/* SPDX-License-Identifier: MIT */
/* Store scenarios: the text format, the floor plan, and the timeline with its ground truth. */
#ifndef SK_SIM_SCENARIO_H
#define SK_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A scenario file (docs/simulator.md) names a store's stock and what shoppers, stockers and
 * faults do in it, in seconds of store time. sc_load parses and plans it: every shopper's
 * walk becomes waypoints on the standard floor plan (below), every take and put a change of
 * a virtual reader's tag population at a moment, and the ground truth (each visit's cart,
 * each shelf's final stock) follows from the same plan.
 *
 * The floor plan, in processing-size pixels (320 x 240), seen from above:
 *
 *     A1 [8,72]  B1 [88,152]  C1 [168,232]  D1 [248,312]    zones y 6..56, shelves on top
 *     <--------------------- lane y = 72 (westwards) ------
 *     ---------------------- lane y = 112 (eastwards) ---->
 *     E1 [8,72]  F1 [88,152]  G1 [168,232]                  zones y 128..180
 *                                        out x = 252 | | in x = 300
 *                                 door y = 205, x 240..316, inside above
 *
 * Shoppers keep right: they come in at x = 300 from below the picture, walk west on the
 * upper lane and east on the lower one, step up (or down) to stand in front of a shelf, and
 * leave at x = 252. Nobody walks through anybody, as in a real store; two shoppers at one
 * shelf stand 40 px apart (left and right).
 */

#define SC_MAX_SHELVES  7
#define SC_MAX_SKUS     8
#define SC_MAX_SHOPPERS 64
#define SC_MAX_ACTIONS  96
#define SC_MAX_ITEMS    2048
#define SC_MAX_EVENTS   8192
#define SC_MAX_RESTOCKS 32
#define SC_MAX_FAULTS   32
#define SC_MAX_WAYPTS   256
#define SC_MAX_REACHES  128 /* per shopper: one per item taken or put, or handed over */
#define SC_NAME_MAX     32
#define SC_FILE_MAX     (256 * 1024)

struct sc_product {
    const char *sku, *name;
    char gtin[15];
    int64_t price_minor;
};

/* The built-in catalog (cola, chips, water, candy, soap, bread, coffee, milk). */
const struct sc_product *sc_product(int i);
int sc_product_find(const char *sku);
const char *sc_shelf_name(int shelf); /* "A1".."G1" */
/*
 * Two cameras (`cameras 2`): "west" sees the floor plan's x -100..220, "east" x 100..420, both
 * at the plan's scale (a window of 320 x 240 each); x 100..220 (1.5 m) is in both views. The
 * store file declares each shelf's zone and the door once on the floor plan (metres,
 * SC_METRES_PER_PX per pixel of the plan) and the loader places each in the camera that sees it
 * whole (A1, B1, E1, F1 west; C1, D1, G1 and the door east).
 */
struct scenario;
#define SC_MAX_CAMERAS   2
#define SC_METRES_PER_PX 0.0125
const char *sc_camera_name(const struct scenario *sc, int cam);
/* The plan's x of the camera's picture's x = 0 (its picture's x is the plan's x minus it). */
float sc_camera_offset(const struct scenario *sc, int cam);
/* The zone of a shelf as a rectangle x0, y0, x1, y1. */
void sc_shelf_zone(int shelf, float ret_rect[4]);
/* The shelf's front edge x1, y1, x2, y2 (the zone's side the shelf stands on). */
void sc_shelf_edge(int shelf, float ret_edge[4]);

struct sc_item {
    uint8_t epc[12];
    char hex[25];
    int sku;
    int shelf;       /* where it lies at the start, -1: carried in by nobody (restock) */
    int final_shelf; /* where it lies at the end, -1 off the shelves */
};

enum sc_ev_kind {
    SC_EV_TAG_ADD = 1, /* item appears on shelf's reader */
    SC_EV_TAG_DEL,     /* item leaves shelf's reader */
    SC_EV_PORTAL_ADD,  /* the exit portal reads item */
    SC_EV_PORTAL_DEL,
    SC_EV_FAULT, /* reader of shelf (or the portal: shelf -1) gets fault kind, value */
    SC_EV_BIND,  /* a session bind for the next entry: token */
    SC_EV_BADGE, /* a staff badge arrives at (value 1) or leaves (0) shelf */
};

struct sc_event {
    double t; /* scene seconds */
    int kind;
    int shelf;
    int item;  /* index in items */
    int fault; /* enum sk_vfault */
    int value;
    char token[64];
};

struct sc_waypoint {
    double t;
    float x, y;
};

/* An arm out towards (x, y) from t for dur seconds: a take, a put, an item handed over. */
struct sc_reach {
    double t, dur;
    float x, y;
};

/* One visit of one shopper: entry to exit. The truth a checkout is scored against. */
struct sc_visit {
    int shopper;
    double enter_t, exit_t; /* door crossings, scene seconds */
    int *cart;              /* items charged at this exit (indexes), owned */
    size_t n_cart;
    char token[64]; /* account bound to it, or "" */
};

struct sc_shopper {
    char name[SC_NAME_MAX];
    double at;
    int luma;
    float radius, speed;
    struct sc_waypoint *path; /* owned */
    size_t n_path;
    struct sc_reach *reaches; /* owned */
    size_t n_reaches;
};

struct scenario {
    char name[96];
    char path[256];
    uint32_t seed;
    double duration; /* scene seconds the run lasts */
    int read_rate;   /* percent */
    bool portal;     /* an exit portal reader */
    /* Shelves whose reader a satellite board polls (`satellite SHELF...`): the store then runs
     * as a hub and a satellite, two processes (docs/simulator.md, "Two boards"). */
    bool satellite[SC_MAX_SHELVES];
    bool boards;           /* any shelf (or the camera) is a satellite's */
    bool satellite_camera; /* `satellite ... camera`: the satellite runs the camera too (of two
                            * cameras, the east one) */
    int n_cameras;         /* `cameras N`: 1 (default) or 2 overlapping ones */
    int speed_px;          /* default walking speed */
    bool used[SC_MAX_SHELVES];
    int n_shelves;         /* highest shelf used + 1 */
    int home[SC_MAX_SKUS]; /* planogram: home shelf of each sku, -1 not stocked */

    struct sc_item *items;
    size_t n_items;
    struct sc_event *events; /* sorted by time */
    size_t n_events;
    struct sc_shopper *shoppers;
    size_t n_shoppers;
    struct sc_visit *visits;
    size_t n_visits;
    int final_stock[SC_MAX_SHELVES][SC_MAX_SKUS];
    int misplaced; /* items put on a shelf that is not their home */
    int returns;   /* items brought back after they were paid */
};

/*
 * Loads and plans a scenario. On failure returns SK_ESCENARIO (or -errno) with
 * "FILE:LINE: problem" in err and leaves *ret untouched.
 */
int sc_load(const char *path, char *err, size_t err_size, struct scenario **ret);
/* The same from text (name stands for the file in messages). */
int sc_parse(const char *name, const char *text, char *err, size_t err_size, struct scenario **ret);
void sc_free(struct scenario *s);

#endif
