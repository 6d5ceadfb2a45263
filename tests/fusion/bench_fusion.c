/* SPDX-License-Identifier: MIT */
/*
 * Fusion benchmark: observations per second through the core (fusion + ledger, production
 * pragmas) for a crowded store, next to plain SQLite inserts of the same observations with
 * the same pragmas and the same transactions, in this same program (the ratio is what the
 * store's logic costs over merely logging what it saw).
 *
 * The store: 24 shelves on 6 readers, 50 tagged items each, one overhead camera with a zone
 * per shelf and a door. A shopper comes in every second (about 35 in the store at once);
 * each visits 4 shelves (5 s each), takes one or two items at each, puts one back one time
 * in five, and leaves. The stream (track, zone, line, tag events, flow, ticks every 100 ms)
 * is generated first, then fed as fast as the core takes it, 64 observations per
 * transaction (the runtime's ledger.batch_max). The checkouts are checked against the
 * generated truth, so the figure is for work done right.
 *
 *   bench_fusion [--quick] [--shoppers N] [--dir DIR]   (DIR: where the ledger goes)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/core.h"
#include "storekeeper/epc.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

#define SHELVES 24
#define ITEMS   50
#define BATCH   64
#define TICK_US 100000LL
#define HOLD_US 1500000LL
#define T0_MONO 10000000LL
#define T0_WALL 1800000000000000LL

struct ev {
    int64_t t;
    int seq;
    bool tick;
    struct sk_obs obs;
};

static struct ev *evs;
static size_t n_evs, cap_evs;
static int seq_no;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static int truth_lines, truth_visits;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_fusion: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static struct sk_obs *push(int64_t t, int type, const char *src)
{
    if (n_evs == cap_evs) {
        cap_evs = cap_evs ? cap_evs * 2 : 65536;
        evs = realloc(evs, cap_evs * sizeof(*evs));
        if (!evs) {
            die("out of memory", NULL);
        }
    }
    struct ev *e = &evs[n_evs++];
    memset(e, 0, sizeof(*e));
    e->t = t;
    e->seq = seq_no++;
    e->obs.type = (uint16_t)type;
    e->obs.mono_us = t;
    e->obs.wall_us = t - T0_MONO + T0_WALL;
    sk_obs_set_source(&e->obs, src);
    return &e->obs;
}

static void gtin_of(int p, char out[15])
{
    char d13[16];
    snprintf(d13, sizeof(d13), "0409999%06d", p);
    memcpy(out, d13, 13);
    out[13] = (char)('0' + sk_gtin_check_digit(d13));
    out[14] = 0;
}

static void epc_of(int shelf, int item, uint8_t epc[12])
{
    char g[15];
    gtin_of(shelf, g);
    sk_epc_encode_sgtin96(g, 7, (uint64_t)item + 1, 1, epc);
}

static void tag(int64_t t, int type, int shelf, int item)
{
    char reader[16];
    snprintf(reader, sizeof(reader), "r%d", shelf / 4);
    struct sk_obs *o = push(t, type, reader);
    o->u.tag.antenna = (uint8_t)(shelf % 4 + 1);
    o->u.tag.epc_len = 12;
    epc_of(shelf, item, o->u.tag.epc);
    o->u.tag.reads = 5;
    if (type == SK_OBS_TAG_DEPARTED) {
        o->u.tag.last_seen_us = t - HOLD_US;
    }
}

static void track(int64_t t, int type, uint32_t id, const char *zone, float x, float y, int dir)
{
    struct sk_obs *o = push(t, type, "cam");
    o->u.track.track_id = id;
    o->u.track.x = x;
    o->u.track.y = y;
    snprintf(o->u.track.zone, sizeof(o->u.track.zone), "%s", zone);
    o->u.track.dir = (uint8_t)dir;
}

/* Shelf s's zone: a 6 x 4 grid of 40 x 40 pixel squares. */
static void zone_center(int s, float *x, float *y)
{
    *x = 20.0f + 50.0f * (float)(s % 6);
    *y = 20.0f + 50.0f * (float)(s / 6);
}

static int next_item[SHELVES];

static void generate(int shoppers, int64_t *ret_end)
{
    int64_t end = 0;
    for (int k = 0; k < shoppers; k++) {
        int64_t t = T0_MONO + (int64_t)k * 1000000;
        uint32_t id = (uint32_t)k + 1;
        track(t, SK_OBS_TRACK_NEW, id, "", 600, 230, 0);
        track(t + 300000, SK_OBS_LINE_CROSS, id, "door", 600, 200, SK_LINE_IN);
        t += 2000000;
        truth_visits++;
        /* 4 different shelves, chosen so no two shoppers share a shelf at once: shopper k
         * visits shelves (k * 4 + j) mod 24, and one arrives every second for 5 s stays */
        for (int j = 0; j < 4; j++) {
            int s = (k * 4 + j) % SHELVES;
            char zone[16];
            snprintf(zone, sizeof(zone), "z%d", s);
            float x, y;
            zone_center(s, &x, &y);
            track(t, SK_OBS_ZONE_ENTER, id, zone, x, y, 0);
            int takes = 1 + (int)(next_rand() % 2);
            int taken[2];
            for (int i = 0; i < takes; i++) {
                int item = next_item[s]++ % ITEMS;
                taken[i] = item;
                tag(t + 1500000 + i * 1000000 + HOLD_US, SK_OBS_TAG_DEPARTED, s, item);
            }
            bool back = next_rand() % 5 == 0;
            if (back) {
                tag(t + 4000000, SK_OBS_TAG_ARRIVED, s, taken[takes - 1]);
                next_item[s]--; /* it is back; taken again by the next shopper here */
            }
            truth_lines += takes - (back ? 1 : 0);
            track(t + 5000000, SK_OBS_ZONE_LEAVE, id, zone, x, y, 0);
            t += 8000000;
        }
        track(t, SK_OBS_LINE_CROSS, id, "door", 600, 210, SK_LINE_OUT);
        track(t + 800000, SK_OBS_TRACK_LOST, id, "", 600, 235, 0);
        end = t > end ? t : end;
    }
    for (int64_t t = T0_MONO; t <= end + 10000000; t += 10000000) {
        struct sk_obs *o = push(t, SK_OBS_FLOW, "cam");
        o->u.flow.fps = 10;
        o->u.flow.occupancy = 30;
    }
    *ret_end = end + 15000000;
}

static int by_time(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    return x->seq - y->seq;
}

static const char *write_store(const char *dir)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/bench-store.cfg", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        die("cannot write the store", path);
    }
    fprintf(f, "store_id = \"bench\"; device_id = \"bench-01\"; board = \"sim\";\n");
    fprintf(f, "buses = ( { name = \"b\"; url = \"tcp:127.0.0.1:1502\"; } );\nreaders = (\n");
    for (int r = 0; r < SHELVES / 4; r++) {
        fprintf(f, "  { name = \"r%d\"; bus = \"b\"; unit = %d; }%s\n", r, r + 1,
                r + 1 < SHELVES / 4 ? "," : "");
    }
    fprintf(f, ");\nshelves = (\n");
    for (int s = 0; s < SHELVES; s++) {
        fprintf(f,
                "  { name = \"S%02d\"; reader = \"r%d\"; antenna = %d; zone = \"z%d\"; preset = "
                "\"fast\"; }%s\n",
                s, s / 4, s % 4 + 1, s, s + 1 < SHELVES ? "," : "");
    }
    fprintf(f, ");\ncameras = ( { name = \"cam\"; backend = \"synthetic\"; } );\nzones = (\n");
    for (int s = 0; s < SHELVES; s++) {
        float x, y;
        zone_center(s, &x, &y);
        fprintf(f,
                "  { name = \"z%d\"; camera = \"cam\"; polygon = [%.0f.0, %.0f.0, %.0f.0, %.0f.0, "
                "%.0f.0, %.0f.0, %.0f.0, %.0f.0]; }%s\n",
                s, x - 20, y - 20, x + 20, y - 20, x + 20, y + 20, x - 20, y + 20,
                s + 1 < SHELVES ? "," : "");
    }
    fprintf(f, ");\nlines = ( { name = \"door\"; camera = \"cam\"; role = \"door\"; points = "
               "[560.0, 205.0, 640.0, 205.0]; } );\n");
    fclose(f);
    return path;
}

static void seed_ledger(struct sk_ledger *l, const struct sk_config *cfg, struct sk_core *core)
{
    if (sk_ledger_sync_shelves(l, cfg) < 0) {
        die("shelves", sk_ledger_errmsg(l));
    }
    for (int s = 0; s < SHELVES; s++) {
        struct sk_product p = {
                .price_minor = 100 + s, .restock_threshold = 5, .restock_target = ITEMS};
        snprintf(p.sku, sizeof(p.sku), "P%02d", s);
        snprintf(p.name, sizeof(p.name), "Product %d", s);
        snprintf(p.currency, sizeof(p.currency), "EUR");
        gtin_of(s, p.gtin);
        if (sk_ledger_product_put(l, &p) < 0 ||
            sk_ledger_planogram_put(l, cfg->shelves[s].name, p.sku, ITEMS) < 0) {
            die("catalog", sk_ledger_errmsg(l));
        }
    }
    /* the shelves are full: their tags arrive (recorded as restock) before the day starts */
    sk_ledger_begin(l);
    for (int s = 0; s < SHELVES; s++) {
        for (int i = 0; i < ITEMS; i++) {
            struct sk_obs o;
            memset(&o, 0, sizeof(o));
            o.type = SK_OBS_TAG_ARRIVED;
            o.mono_us = T0_MONO - 60000000;
            o.wall_us = T0_WALL - 60000000;
            snprintf(o.source, sizeof(o.source), "r%d", s / 4);
            o.u.tag.antenna = (uint8_t)(s % 4 + 1);
            o.u.tag.epc_len = 12;
            epc_of(s, i, o.u.tag.epc);
            if (sk_core_handle(core, &o) < 0) {
                die("stocking", sk_ledger_errmsg(l));
            }
        }
    }
    if (sk_ledger_commit(l) < 0) {
        die("stocking", sk_ledger_errmsg(l));
    }
}

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct count {
    int checkouts, lines;
};

static int on_fact(void *ctx, const struct sk_fusion_event *ev)
{
    struct count *c = ctx;
    if (ev->type == SK_FEV_CHECKOUT) {
        c->checkouts++;
        c->lines += (int)ev->session->n_lines;
    }
    return 0;
}

/* The stream through the core and the ledger. Returns observations per second. */
static double run_fusion(const char *dir, const char *cfg_path, size_t *ret_commits)
{
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config *cfg;
#ifdef SK_TEST_DATADIR
    struct sk_config_opts copts = {.data_dir = SK_TEST_DATADIR};
#else
    struct sk_config_opts copts = {0};
#endif
    if (sk_config_load(cfg_path, &copts, &d, &cfg) < 0) {
        sk_diag_print(&d, stderr);
        die("config", cfg_path);
    }
    sk_diag_free(&d);
    char path[600];
    snprintf(path, sizeof(path), "%s/bench-fusion.db", dir);
    unlink(path);
    struct sk_clock_manual clk;
    sk_clock_manual_init(&clk, T0_MONO - 60000000, T0_WALL - 60000000);
    struct sk_ledger_opts o = {.path = path,
                               .store_id = "bench",
                               .device_id = "bench-01",
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_OWNER,
                               .clock = &clk.clock};
    char msg[512];
    struct sk_ledger *l;
    if (sk_ledger_open(&o, msg, sizeof(msg), &l) < 0) {
        die(msg, NULL);
    }
    struct sk_core *core;
    if (sk_core_new(cfg, &clk.clock, &core) < 0) {
        die("core", NULL);
    }
    struct count c = {0};
    sk_core_set_listener(core, on_fact, &c);
    seed_ledger(l, cfg, core);
    sk_core_set_ledger(core, l);
    size_t commits = 0, in_batch = 0, observations = 0;
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < n_evs; i++) {
        struct ev *e = &evs[i];
        clk.mono_us = e->t;
        clk.wall_us = e->t - T0_MONO + T0_WALL;
        if (e->tick) {
            sk_core_tick(core); /* inside the open batch, as a savepoint */
            continue;
        }
        if (!in_batch && sk_ledger_begin(l) < 0) {
            die("begin", sk_ledger_errmsg(l));
        }
        if (sk_core_handle(core, &e->obs) < 0) {
            die("handle", sk_ledger_errmsg(l));
        }
        observations++;
        if (++in_batch == BATCH) {
            if (sk_ledger_commit(l) < 0) {
                die("commit", sk_ledger_errmsg(l));
            }
            commits++;
            in_batch = 0;
        }
    }
    if (in_batch && sk_ledger_commit(l) >= 0) {
        commits++;
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    struct sk_fusion_stats st;
    sk_fusion_get_stats(sk_core_fusion(core), &st);
    printf("fusion + ledger: %zu observations in %.2f s (CPU %.2f s): %.0f observations/s, "
           "%.1f us each; %zu commits\n",
           observations, wall, cpu, (double)observations / wall, 1e6 * wall / (double)observations,
           commits);
    printf("  checkouts %d of %d visits, %d lines charged of %d taken (%s), %" PRIu64
           " pickups, %" PRIu64 " put-backs, %" PRIu64 " dropped\n",
           c.checkouts, truth_visits, c.lines, truth_lines,
           c.checkouts == truth_visits && c.lines == truth_lines ? "exact" : "MISMATCH", st.pickups,
           st.putbacks, st.dropped);
    if (c.checkouts != truth_visits || c.lines != truth_lines) {
        die("the store's checkouts do not match the generated truth", NULL);
    }
    sk_core_free(core);
    sk_ledger_close(l);
    sk_config_free(cfg);
    unlink(path);
    *ret_commits = commits;
    return (double)observations / wall;
}

/* The peer: the same observations as rows of one table, same pragmas, same transactions. */
static double run_sqlite(const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/bench-plain.db", dir);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        die("sqlite open", path);
    }
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                 "PRAGMA temp_store=MEMORY; CREATE TABLE obs (id INTEGER PRIMARY KEY, t INTEGER, "
                 "type INTEGER, source TEXT, detail BLOB);",
                 NULL, NULL, NULL);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO obs (t, type, source, detail) VALUES (?1, ?2, ?3, ?4)", -1,
                       &s, NULL);
    size_t in_batch = 0, observations = 0;
    double t0 = now_s(CLOCK_MONOTONIC);
    for (size_t i = 0; i < n_evs; i++) {
        struct ev *e = &evs[i];
        if (e->tick) {
            continue;
        }
        if (!in_batch) {
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        }
        sqlite3_bind_int64(s, 1, e->t);
        sqlite3_bind_int(s, 2, e->obs.type);
        sqlite3_bind_text(s, 3, e->obs.source, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 4, &e->obs.u, 64, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            die("sqlite insert", sqlite3_errmsg(db));
        }
        sqlite3_reset(s);
        observations++;
        if (++in_batch == BATCH) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            in_batch = 0;
        }
    }
    if (in_batch) {
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    unlink(path);
    printf("plain SQLite inserts of the same observations: %.0f observations/s\n",
           (double)observations / wall);
    return (double)observations / wall;
}

int main(int argc, char **argv)
{
    int shoppers = 600;
    const char *dir = getenv("TMPDIR");
    if (!dir || !dir[0]) {
        dir = "/tmp";
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            shoppers = 40;
        } else if (strcmp(argv[i], "--shoppers") == 0 && i + 1 < argc) {
            shoppers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_fusion [--quick] [--shoppers N] [--dir DIR]\n");
            return 2;
        }
    }
    if (shoppers < 1 || shoppers > 100000) {
        die("--shoppers is 1..100000", NULL);
    }
    sk_log_set_level(SK_LOG_ERR);
    int64_t end;
    generate(shoppers, &end);
    for (int64_t t = T0_MONO; t <= end; t += TICK_US) {
        if (n_evs == cap_evs) {
            cap_evs *= 2;
            evs = realloc(evs, cap_evs * sizeof(*evs));
        }
        struct ev *e = &evs[n_evs++];
        memset(e, 0, sizeof(*e));
        e->t = t;
        e->seq = seq_no++;
        e->tick = true;
    }
    qsort(evs, n_evs, sizeof(*evs), by_time);
    size_t obs = 0;
    for (size_t i = 0; i < n_evs; i++) {
        obs += !evs[i].tick;
    }
    double store_s = (double)(end - T0_MONO) / 1e6;
    printf("crowded store: %d shoppers over %.0f s of store time (about 35 inside at once), "
           "%zu observations (%.1f per second of store time), %d items taken\n",
           shoppers, store_s, obs, (double)obs / store_s, truth_lines);
    const char *cfg = write_store(dir);
    size_t commits;
    double fusion = run_fusion(dir, cfg, &commits);
    double plain = run_sqlite(dir);
    printf("ratio: plain inserts / fusion + ledger = %.1f\n", plain / fusion);
    printf("headroom: fusion + ledger handles %.0fx what the crowded store produces in real "
           "time\n",
           fusion / ((double)obs / store_s));
    unlink(cfg);
    free(evs);
    return 0;
}
