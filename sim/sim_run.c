/* SPDX-License-Identifier: MIT */
/* The simulated store: virtual readers, a scripted synthetic camera and the real runtime. */
#include "sim_run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "sim_crash.h"
#include "sim_mqtt.h"
#include "storekeeper/buf.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/profile.h"
#include "storekeeper/runtime.h"
#include "storekeeper/services.h"
#include "storekeeper/synth.h"
#include "storekeeper/vreader.h"

/*
 * DESIGN
 * Everything runs in this process, the way `storekeeper run` runs on a board: the runtime
 * (sk_runtime_main with the executable's services: bus threads polling over Modbus/TCP on
 * loopback, the camera thread rendering and processing the synthetic scene, the core, the
 * ledger) plus one more service, the scenario's driver. The driver is a timer on the core's
 * loop: it reads the scene time of the latest frame the camera rendered (the scene's clock,
 * which the camera paces in real time) and applies every timeline event that is due to the
 * virtual readers: a take removes the tag from its shelf's reader, a put adds it, faults
 * switch on and off. So shoppers in the picture and tags on the shelves move on one clock.
 * When the scenario's time is over it stops the loop; the runtime then shuts down as on
 * SIGTERM, and the events are read back from the ledger's outbox and scored.
 *
 * The driver only touches the readers (thread-safe) and the ledger through the read API on
 * the core thread; it never feeds observations itself: the store under test sees nothing
 * the real drivers would not.
 */

#define PORTAL_UNIT  9
#define BADGE_EPC    "E2801160600002040000B00B"
#define MAX_SERVICES 16

struct driver {
    const struct scenario *sc;
    const struct sim_opts *opts;
    struct sim_result *res;
    struct sk_vreader *vr;
    struct sk_synth *scene; /* the first camera's: its clock is the scenario's */
    struct sk_synth *scenes[SC_MAX_CAMERAS];
    struct sk_runtime *rt;
    size_t next;
    bool started;
    int64_t t0_mono_us;
    struct sim_cloud *cloud;
    int64_t end_us; /* when the scenario's time was over (mono), 0 before */
};

static struct driver drv; /* one scenario per process */

static int unit_of(int shelf)
{
    return shelf < 0 ? PORTAL_UNIT : shelf + 1;
}

void sim_apply(const struct scenario *sc,
               struct sk_vreader *vr,
               struct sim_cloud *cloud,
               size_t index,
               const struct sc_event *e)
{
    uint8_t badge[12];
    switch (e->kind) {
    case SC_EV_TAG_ADD:
        sk_vreader_tag_add(vr, unit_of(e->shelf), 1, sc->items[e->item].epc, 12, -4500);
        break;
    case SC_EV_TAG_DEL:
        sk_vreader_tag_remove(vr, unit_of(e->shelf), 0, sc->items[e->item].epc, 12);
        break;
    case SC_EV_PORTAL_ADD:
        sk_vreader_tag_add(vr, PORTAL_UNIT, 1, sc->items[e->item].epc, 12, -6000);
        break;
    case SC_EV_PORTAL_DEL:
        sk_vreader_tag_remove(vr, PORTAL_UNIT, 0, sc->items[e->item].epc, 12);
        break;
    case SC_EV_FAULT:
        sk_vreader_fault(vr, unit_of(e->shelf), e->fault, e->value);
        break;
    case SC_EV_BADGE:
        sk_epc_from_hex(BADGE_EPC, badge, sizeof(badge));
        if (e->value) {
            sk_vreader_tag_add(vr, unit_of(e->shelf), 1, badge, 12, -4000);
        } else {
            sk_vreader_tag_remove(vr, unit_of(e->shelf), 0, badge, 12);
        }
        break;
    case SC_EV_BIND: {
        /* As the gate app does: the cloud sends a bind for the next shopper who enters. */
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"account_token\":\"%s\",\"next_entry\":true,\"expires_s\":120,"
                 "\"persons\":%d,\"request_id\":\"sim-bind-%zu\"}",
                 e->token, e->value > 0 ? e->value : 1, index);
        if (sim_cloud_command(cloud, "session_bind", json) < 0) {
            sk_log(SK_LOG_WARNING, "sim", NULL, "bind %s could not be published", e->token);
        }
        break;
    }
    default:
        break;
    }
}

static void live_line(struct driver *d, const char *topic, const char *payload)
{
    FILE *out = d->opts->out ? d->opts->out : stdout;
    cJSON *j = cJSON_Parse(payload);
    if (!j) {
        return;
    }
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "session_id");
    /* the end of the id: its start is the opening time, alike for shoppers close in time */
    const char *session = cJSON_IsString(sid) && strlen(sid->valuestring) > 8
                                  ? sid->valuestring + strlen(sid->valuestring) - 8
                                  : "-";
    double t = (double)(sk_now_mono_us() - d->t0_mono_us) / 1e6;
    if (strcmp(topic, "event/checkout") == 0) {
        char items[256] = "";
        size_t used = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
        {
            const cJSON *sku = cJSON_GetObjectItemCaseSensitive(it, "sku");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "quantity");
            if (used < sizeof(items) && cJSON_IsString(sku) && cJSON_IsNumber(q)) {
                used += (size_t)snprintf(items + used, sizeof(items) - used, "%s%d x %s",
                                         used ? ", " : "", q->valueint, sku->valuestring);
            }
        }
        const cJSON *total = cJSON_GetObjectItemCaseSensitive(j, "total_minor");
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(j, "currency");
        const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "review");
        char money[48] = "no total";
        if (cJSON_IsNumber(total)) {
            snprintf(money, sizeof(money), "%.2f %s", total->valuedouble / 100.0,
                     cJSON_IsString(cur) ? cur->valuestring : "");
        }
        fprintf(out, "%7.1f s  checkout  session ..%s  %s  [%s]%s\n", t, session, money,
                items[0] ? items : "nothing", cJSON_IsTrue(rev) ? "  (to review)" : "");
    } else if (strcmp(topic, "event/exit_without_checkout") == 0) {
        fprintf(out, "%7.1f s  exit without checkout: %d item(s)\n", t,
                cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "items")));
    } else if (strcmp(topic, "event/cart_abandoned") == 0) {
        fprintf(out, "%7.1f s  cart abandoned  session ..%s\n", t, session);
    }
    fflush(out);
    cJSON_Delete(j);
}

static void on_cloud(void *ctx, const char *topic, const char *payload)
{
    struct driver *d = ctx;
    if (d->opts->live && d->started) {
        live_line(d, topic, payload);
    }
}

static bool outbox_drained(struct driver *d)
{
    struct sk_outbox_stats st;
    return sk_ledger_outbox_stats(sk_runtime_ledger(d->rt), &st) == 0 && st.pending == 0;
}

static void on_tick(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)expirations;
    struct driver *d = ctx;
    double t = sk_synth_time(d->scene);
    if (t < 0) {
        return; /* the camera has not rendered its first frame */
    }
    if (!d->started) {
        d->started = true;
        d->t0_mono_us = sk_now_mono_us() - (int64_t)(t * 1e6);
        d->res->t0_wall_us = sk_now_wall_us() - (int64_t)(t * 1e6);
    }
    while (d->next < d->sc->n_events && d->sc->events[d->next].t <= t) {
        sim_apply(d->sc, d->vr, d->cloud, d->next, &d->sc->events[d->next]);
        d->next++;
    }
    if (t >= d->sc->duration) {
        /* The scenario is over; stop once the link delivered what the ledger holds (10 s
         * at most: a broken link must not hang the run, the score will show it). */
        int64_t now = sk_now_mono_us();
        if (!d->end_us) {
            d->end_us = now;
        }
        if (outbox_drained(d) || now - d->end_us > 10000000) {
            /* what the runtime writes while it shuts down has no link left to go out on */
            d->res->stop_wall_us = sk_now_wall_us();
            sk_loop_stop(loop);
        }
    }
}

static int driver_start(struct sk_runtime *rt, void **ret_state)
{
    drv.rt = rt;
    int r = sk_loop_timer_add(sk_runtime_loop(rt), 20, 20, on_tick, &drv, NULL);
    if (r < 0) {
        return r;
    }
    *ret_state = &drv;
    return 0;
}

static void driver_stop(void *state)
{
    (void)state;
}

static const struct sk_service driver_service = {
        .name = "scenario",
        .start = driver_start,
        .stop = driver_stop,
};

/* ---- the store's files ---------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -errno;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -errno;
}

#define FILE_MAX (1u << 20) /* one generated file: a store of hundreds of shelves */

/* Writes what b holds as dir/name (or returns the error building it hit) and empties b for
 * the next file. */
static int flush_file(struct sk_buf *b, const char *dir, const char *name)
{
    int r = b->err ? b->err : write_file(dir, name, b->p);
    sk_buf_free(b);
    return r;
}

/* The floor: buses, readers, shelves, the camera, its zones and lines. With satellite shelves
 * their readers sit on a bus of the satellite board (SIM_SATELLITE), on the same virtual readers.
 */
static void write_floor(struct sk_buf *b, const struct scenario *sc, int port, const char *scene)
{
    const char *bus_opts = "poll_interval_ms = 100; response_timeout_ms = 300; "
                           "reconnect_min_ms = 200; reconnect_max_ms = 2000;";
    sk_buf_printf(b, "buses = (\n  { name = \"sim-bus\"; url = \"tcp:127.0.0.1:%d\"; %s%s }%s\n",
                  port, bus_opts, sc->boards ? " device_id = \"" SIM_HUB "\";" : "",
                  sc->boards ? "," : "");
    if (sc->boards) {
        sk_buf_printf(b,
                      "  { name = \"sat-bus\"; url = \"tcp:127.0.0.1:%d\"; %s device_id = "
                      "\"" SIM_SATELLITE "\"; }\n",
                      port, bus_opts);
    }
    sk_buf_printf(b, ");\nreaders = (\n");
    for (int s = 0; s < sc->n_shelves; s++) {
        sk_buf_printf(b, "  { name = \"reader-%c1\"; bus = \"%s\"; unit = %d; },\n", 'a' + s,
                      sc->satellite[s] ? "sat-bus" : "sim-bus", unit_of(s));
    }
    sk_buf_printf(b,
                  "  { name = \"portal\"; bus = \"sim-bus\"; unit = %d; role = \"exit\"; }\n);\n",
                  PORTAL_UNIT);
    sk_buf_printf(
            b, "presence_presets = ( { name = \"sim\"; arrive_k = 2; arrive_n = 3; hold_ms = 1500; "
               "} );\n");
    sk_buf_printf(b, "shelves = (\n");
    for (int s = 0; s < sc->n_shelves; s++) {
        sk_buf_printf(
                b,
                "  { name = \"%s\"; reader = \"reader-%c1\"; antenna = 1; zone = \"front-%c1\"; "
                "preset = \"sim\"; }%s\n",
                sc_shelf_name(s), 'a' + s, 'a' + s, s + 1 < sc->n_shelves ? "," : "");
    }
    /* One camera, or two overlapping ones calibrated to the floor plan (metres): the floor
     * points are the corners of each picture. Of two, a satellite runs the east one. */
    sk_buf_printf(b, ");\ncameras = (\n");
    for (int c = 0; c < sc->n_cameras; c++) {
        bool on_sat = sc->satellite_camera && c == sc->n_cameras - 1;
        const char *cam_board = !sc->boards ? ""
                                : on_sat    ? " device_id = \"" SIM_SATELLITE "\";"
                                            : " device_id = \"" SIM_HUB "\";";
        sk_buf_printf(b, "  { name = \"%s\"; backend = \"synthetic\";%s", sc_camera_name(sc, c),
                      cam_board);
        if (scene) { /* the runtime in its own process renders the scene from a file */
            char file[600];
            sim_scene_file(sc, scene, c, file, sizeof(file));
            sk_buf_printf(b, " device = \"%s\";", file);
        }
        if (sc->n_cameras > 1) {
            double m = SC_METRES_PER_PX, ox = sc_camera_offset(sc, c);
            sk_buf_printf(b,
                          "\n    floor = [ 0.0, 0.0, %.4f, 0.0,  320.0, 0.0, %.4f, 0.0,  320.0, "
                          "240.0, %.4f, %.4f,  0.0, 240.0, %.4f, %.4f ];",
                          ox * m, (ox + 320) * m, (ox + 320) * m, 240 * m, ox * m, 240 * m);
        }
        sk_buf_printf(b, " }%s\n", c + 1 < sc->n_cameras ? "," : "");
    }
    /* One camera: zones and the door in its pixels. Two: each declared once on the floor plan
     * (metres), and the loader places it in the camera that sees it whole (A1, B1, E1, F1 west;
     * C1, D1, G1 and the door east). The plan's y grows down the page as the pictures' does, so
     * the door's inside, left in the picture, is right on a plan drawn with y up. */
    bool on_floor = sc->n_cameras > 1;
    double m = on_floor ? SC_METRES_PER_PX : 1.0;
    const char *unit_of_px = on_floor ? "floor" : "polygon",
               *edge_key = on_floor ? "floor_reach" : "reach";
    sk_buf_printf(b, ");\nzones = (\n");
    for (int s = 0; s < sc->n_shelves; s++) {
        float r[4], e[4];
        sc_shelf_zone(s, r);
        sc_shelf_edge(s, e);
        char cam[64] = "";
        if (!on_floor) {
            snprintf(cam, sizeof(cam), " camera = \"%s\";", sc_camera_name(sc, 0));
        }
        sk_buf_printf(b,
                      "  { name = \"front-%c1\";%s %s = [ %.4f, %.4f, %.4f, %.4f, %.4f, %.4f, "
                      "%.4f, %.4f ]; %s = [ %.4f, %.4f, %.4f, %.4f ]; }%s\n",
                      'a' + s, cam, unit_of_px, r[0] * m, r[1] * m, r[2] * m, r[1] * m, r[2] * m,
                      r[3] * m, r[0] * m, r[3] * m, edge_key, e[0] * m, e[1] * m, e[2] * m,
                      e[3] * m, s + 1 < sc->n_shelves ? "," : "");
    }
    if (on_floor) {
        sk_buf_printf(b,
                      ");\nlines = ( { name = \"door\"; role = \"door\"; floor = [ %.4f, %.4f, "
                      "%.4f, %.4f ]; inside = \"right\"; } );\n",
                      240.0 * m, 205.0 * m, 316.0 * m, 205.0 * m);
    } else {
        sk_buf_printf(b,
                      ");\nlines = ( { name = \"door\"; camera = \"%s\"; role = \"door\"; "
                      "points = [ 240.0, 205.0, 316.0, 205.0 ]; inside = \"left\"; } );\n",
                      sc_camera_name(sc, 0));
    }
    sk_buf_printf(b, "staff_badges = ( { name = \"stocker\"; epc = \"%s\"; } );\n", BADGE_EPC);
}

int sim_write_store(const struct scenario *sc,
                    const char *dir,
                    int port,
                    const char *mqtt_host,
                    int mqtt_port,
                    bool verbose,
                    const char *scene_file)
{
    struct sk_buf b = SK_BUF_INIT(FILE_MAX);
    int r = 0;
    if (sc->boards) {
        /* Two boards share the floor (docs/operator.md, "Satellite boards"). */
        sk_buf_printf(&b,
                      "# Written by `storekeeper sim` for scenario \"%s\" (%s): the floor of "
                      "both boards.\n",
                      sc->name, sc->path);
        write_floor(&b, sc, port, scene_file);
        if ((r = flush_file(&b, dir, "floor.cfg")) < 0) {
            return r;
        }
        sk_buf_printf(&b, "# Written by `storekeeper sim`: the satellite board.\n");
        sk_buf_printf(&b, "store_id = \"sim\";\ndevice_id = \"" SIM_SATELLITE
                          "\";\nboard = \"sim\";\n");
        sk_buf_printf(&b, "role = \"satellite\";\nsatellite = { hub = \"" SIM_HUB
                          "\"; ack_timeout_s = 3; };\n");
        sk_buf_printf(&b, "log = { level = \"%s\"; };\n", verbose ? "info" : "warning");
        sk_buf_printf(&b, "core = { status_interval_s = 0; };\n@include \"floor.cfg\"\n");
        sk_buf_printf(&b, "mqtt = { host = \"%s\"; port = %d; };\n", mqtt_host, mqtt_port);
        sk_buf_printf(&b, "ledger = { path = \"satellite.db\"; census_interval_s = 0; };\n");
        sk_buf_printf(&b, "control = { socket = \"%s/satellite.sock\"; };\n", dir);
        if ((r = flush_file(&b, dir, "satellite.cfg")) < 0) {
            return r;
        }
    }
    sk_buf_printf(&b, "# Written by `storekeeper sim` for scenario \"%s\" (%s).\n", sc->name,
                  sc->path);
    sk_buf_printf(&b, "store_id = \"sim\";\ndevice_id = \"" SIM_HUB "\";\nboard = \"sim\";\n");
    sk_buf_printf(&b, "products_file = \"products.csv\";\nplanogram_file = \"planogram.csv\";\n");
    sk_buf_printf(&b, "log = { level = \"%s\"; };\n", verbose ? "info" : "warning");
    sk_buf_printf(&b, "core = { status_interval_s = 0; };\n");
    if (sc->boards) {
        sk_buf_printf(&b, "@include \"floor.cfg\"\nhub = { ping_interval_ms = 500; };\n");
    } else {
        write_floor(&b, sc, port, scene_file);
    }
    sk_buf_printf(&b, "mqtt = { host = \"%s\"; port = %d; };\n", mqtt_host, mqtt_port);
    sk_buf_printf(&b, "ledger = { path = \"ledger.db\"; census_interval_s = 0; };\n");
    sk_buf_printf(&b, "fusion = { restock_linger_s = 5; };\n");
    sk_buf_printf(&b, "control = { socket = \"%s/control.sock\"; };\n", dir);
    if ((r = flush_file(&b, dir, "store.cfg")) < 0) {
        return r;
    }
    sk_buf_printf(&b, "sku,gtin,name,price,currency,restock_threshold,restock_target\n");
    for (int k = 0; k < SC_MAX_SKUS; k++) {
        const struct sc_product *p = sc_product(k);
        sk_buf_printf(&b, "%s,%s,\"%s\",%.2f,EUR,2,12\n", p->sku, p->gtin, p->name,
                      (double)p->price_minor / 100.0);
    }
    if ((r = flush_file(&b, dir, "products.csv")) < 0) {
        return r;
    }
    sk_buf_printf(&b, "shelf,sku,capacity\n");
    for (int k = 0; k < SC_MAX_SKUS; k++) {
        if (sc->home[k] >= 0 && sc->home[k] < sc->n_shelves) {
            sk_buf_printf(&b, "%s,%s,50\n", sc_shelf_name(sc->home[k]), sc_product(k)->sku);
        }
    }
    return flush_file(&b, dir, "planogram.csv");
}

/* ---- the run -------------------------------------------------------------------------------- */

int sim_start_readers(const struct scenario *sc, struct sk_vreader **ret)
{
    struct sk_profile *prof = NULL;
    int r = sk_profile_load_print("sim", "generic-epc", NULL, &prof);
    if (r < 0) {
        return r;
    }
    struct sk_vreader_opts vo = {.listen = "tcp:127.0.0.1:0", .round_ms = 50, .seed = sc->seed};
    struct sk_vreader *v = NULL;
    if ((r = sk_vreader_new(&vo, &v)) == 0) {
        for (int s = 0; s < sc->n_shelves && r == 0; s++) {
            r = sk_vreader_add_unit(v, unit_of(s), prof);
        }
        if (r == 0) {
            r = sk_vreader_add_unit(v, PORTAL_UNIT, prof);
        }
    }
    sk_profile_free(prof);
    for (size_t i = 0; r == 0 && i < sc->n_items; i++) {
        if (sc->items[i].shelf >= 0) {
            r = sk_vreader_tag_add(v, unit_of(sc->items[i].shelf), 1, sc->items[i].epc, 12, -4500);
        }
    }
    if (r == 0 && sc->read_rate < 100) {
        r = sk_vreader_fault(v, 0, SK_VFAULT_READ_PROB, sc->read_rate);
    }
    if (r == 0) {
        r = sk_vreader_start(v);
    }
    if (r < 0) {
        fprintf(stderr, "sim: virtual readers: %s\n", sk_strerror(r));
        sk_vreader_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

void sim_scene_file(const struct scenario *sc, const char *base, int cam, char *out, size_t size)
{
    if (sc->n_cameras < 2) {
        snprintf(out, size, "%s", base);
        return;
    }
    size_t n = strlen(base);
    size_t stem = n > 6 && strcmp(base + n - 6, ".scene") == 0 ? n - 6 : n;
    snprintf(out, size, "%.*s-%s.scene", (int)stem, base, sc_camera_name(sc, cam));
}

/* Camera cam's picture of the store: the plan seen through its window. */
static int make_scene(const struct scenario *sc, int cam, struct sk_synth **ret)
{
    float ox = sc_camera_offset(sc, cam);
    struct sk_synth_params sp;
    sk_synth_params_default(&sp, 320, 240);
    sp.seed = sc->seed ? sc->seed : 1;
    sp.shadows = true;
    sp.drift_amplitude = 0.1f;
    struct sk_synth *scene = NULL;
    int r = sk_synth_new(&sp, &scene);
    for (size_t i = 0; r == 0 && i < sc->n_shoppers; i++) {
        const struct sc_shopper *s = &sc->shoppers[i];
        struct sk_synth_look look = {.radius = s->radius, .luma = s->luma, .head_luma = -1};
        uint32_t id;
        r = sk_synth_add_shopper(scene, &look, &id);
        for (size_t k = 0; r == 0 && k < s->n_path; k++) {
            r = sk_synth_waypoint(scene, id, s->path[k].t, s->path[k].x - ox, s->path[k].y);
        }
        for (size_t k = 0; r == 0 && k < s->n_reaches; k++) {
            const struct sc_reach *a = &s->reaches[k];
            r = sk_synth_reach(scene, id, a->t, a->dur, a->x - ox, a->y);
        }
    }
    if (r < 0) {
        sk_synth_free(scene);
        return r;
    }
    *ret = scene;
    return 0;
}

/* Camera cam's scene as a file: the same scene make_scene() builds in memory. */
static int write_scene(const struct scenario *sc, int cam, const char *path)
{
    float ox = sc_camera_offset(sc, cam);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -errno;
    }
    /* floats written as floats */
    fprintf(f,
            "# Written by `storekeeper sim` for scenario \"%s\", camera %s.\n"
            "scene = { seed = %u; shadows = true; drift_amplitude = 0.1; };\nshoppers = (\n",
            sc->name, sc_camera_name(sc, cam), sc->seed ? sc->seed : 1);
    for (size_t i = 0; i < sc->n_shoppers; i++) {
        const struct sc_shopper *s = &sc->shoppers[i];
        fprintf(f, "  { luma = %d; radius = %.3f; path = [", s->luma, (double)s->radius);
        for (size_t k = 0; k < s->n_path; k++) {
            fprintf(f, "%s %.3f, %.3f, %.3f", k ? "," : "", s->path[k].t,
                    (double)(s->path[k].x - ox), (double)s->path[k].y);
        }
        fprintf(f, " ];");
        if (s->n_reaches) {
            fprintf(f, " reach = [");
            for (size_t k = 0; k < s->n_reaches; k++) {
                const struct sc_reach *a = &s->reaches[k];
                fprintf(f, "%s %.3f, %.3f, %.3f, %.3f", k ? "," : "", a->t, a->dur,
                        (double)(a->x - ox), (double)a->y);
            }
            fprintf(f, " ];");
        }
        fprintf(f, " }%s\n", i + 1 < sc->n_shoppers ? "," : "");
    }
    fprintf(f, ");\n");
    return fclose(f) == 0 ? 0 : -errno;
}

int sim_write_scene(const struct scenario *sc, const char *path)
{
    int r = 0;
    for (int c = 0; r == 0 && c < sc->n_cameras; c++) {
        char file[600];
        sim_scene_file(sc, path, c, file, sizeof(file));
        r = write_scene(sc, c, file);
    }
    return r;
}

struct collect {
    struct sim_result *res;
    int64_t last_seq;
};

static int collect_row(const struct sk_outbox_row *row, void *ctx)
{
    struct collect *c = ctx;
    struct sim_result *res = c->res;
    struct sim_event *e = realloc(res->events, (res->n_events + 1) * sizeof(*e));
    if (!e) {
        return -ENOMEM;
    }
    res->events = e;
    e = &res->events[res->n_events];
    snprintf(e->topic, sizeof(e->topic), "%s", row->topic);
    e->payload = strdup(row->payload);
    if (!e->payload) {
        return -ENOMEM;
    }
    e->created_us = row->created_us;
    res->n_events++;
    c->last_seq = row->seq;
    return 0;
}

static int stock_row(const struct sk_stock_row *row, void *ctx)
{
    struct sim_result *res = ctx;
    int sku = sc_product_find(row->sku);
    for (int s = 0; s < SC_MAX_SHELVES && sku >= 0; s++) {
        if (strcmp(sc_shelf_name(s), row->shelf) == 0) {
            res->stock[s][sku] = (int)row->quantity;
        }
    }
    return 0;
}

/* The events as the ledger kept them (each must have reached the cloud), and its stock. */
int sim_read_back(const char *dir, struct sim_result *res)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/ledger.db", dir);
    struct sk_ledger_opts lo = {.path = path};
    char msg[SK_LEDGER_ERRMSG_MAX];
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&lo, msg, sizeof(msg), &l);
    if (r < 0) {
        fprintf(stderr, "sim: %s\n", msg);
        return r;
    }
    struct sim_result outbox = {0};
    struct collect c = {&outbox, 0};
    do {
        r = sk_ledger_outbox_rows(l, c.last_seq, 1000, false, collect_row, &c);
    } while (r == 1000);
    if (r >= 0) {
        r = sk_ledger_stock(l, NULL, NULL, stock_row, res);
        res->stock_read = r >= 0;
    }
    sk_ledger_close(l);
    res->n_outbox = outbox.n_events;
    for (size_t i = 0; i < outbox.n_events; i++) {
        cJSON *j = cJSON_Parse(outbox.events[i].payload);
        const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
        bool found = false;
        for (size_t k = 0; id && cJSON_IsString(id) && k < res->n_events && !found; k++) {
            found = strstr(res->events[k].payload, id->valuestring) != NULL;
        }
        bool after_end = res->stop_wall_us && outbox.events[i].created_us >= res->stop_wall_us;
        res->n_missing += !found && !after_end;
        cJSON_Delete(j);
    }
    sim_result_free(&outbox);
    return r < 0 ? r : 0;
}

int sim_prepare_dir(const struct sim_opts *opts, char *dir, size_t size)
{
    if (opts->work_dir) {
        snprintf(dir, size, "%s", opts->work_dir);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "sim: cannot create %s: %s\n", dir, strerror(errno));
            return -errno;
        }
        char old[600];
        snprintf(old, sizeof(old), "%s/ledger.db", dir);
        unlink(old); /* every run starts with an empty store */
        snprintf(old, sizeof(old), "%s/ledger.db-wal", dir);
        unlink(old);
        snprintf(old, sizeof(old), "%s/ledger.db-shm", dir);
        unlink(old);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, size, "%s/sk-sim-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "sim: cannot create a work directory: %s\n", strerror(errno));
            return -errno;
        }
    }
    return 0;
}

/* The broker of the run: opts->broker, or a mosquitto of our own (stopped by the caller). */
int sim_connect_broker(const struct sim_opts *opts,
                       const char *dir,
                       struct sim_broker *broker,
                       char *host,
                       size_t host_size,
                       int *ret_port)
{
    snprintf(host, host_size, "127.0.0.1");
    int port = 0;
    int r = 0;
    if (opts->broker) {
        const char *colon = strrchr(opts->broker, ':');
        char *end = NULL;
        long lp = colon ? strtol(colon + 1, &end, 10) : 0;
        port = lp > 0 && lp <= 65535 && end && !*end ? (int)lp : 0;
        if (!colon || port <= 0 || (size_t)(colon - opts->broker) >= host_size) {
            fprintf(stderr, "sim: --broker wants HOST:PORT, not \"%s\"\n", opts->broker);
            return -EINVAL;
        }
        snprintf(host, host_size, "%.*s", (int)(colon - opts->broker), opts->broker);
    } else if ((r = sim_broker_start(dir, broker)) < 0) {
        return r;
    } else {
        port = broker->port;
    }
    *ret_port = port;
    return 0;
}

int sim_run(const struct scenario *sc, const struct sim_opts *opts, struct sim_result *ret)
{
    if (sc->boards) {
        /* Two boards are two processes: the crash loop's way, without a kill. */
        struct sim_crash_opts co = {.kills = 0, .seed = 1};
        struct sim_crash_report rep;
        int r = sim_run_crash(sc, opts, &co, ret, &rep);
        if (r == 0 && (rep.unexpected_exits || !rep.clean_exit || !rep.clean_exit_satellite)) {
            fprintf(stderr, "sim: a board exited by itself or not cleanly; its files are in %s\n",
                    ret->work_dir);
            return -EIO;
        }
        return r;
    }
    memset(ret, 0, sizeof(*ret));
    memset(&drv, 0, sizeof(drv));
    drv.sc = sc;
    drv.opts = opts;
    drv.res = ret;
    char dir[256];
    int r = sim_prepare_dir(opts, dir, sizeof(dir));
    if (r < 0) {
        return r;
    }
    snprintf(ret->work_dir, sizeof(ret->work_dir), "%s", dir);
    struct sim_broker broker = {0};
    char host[128];
    int port = 0;
    if ((r = sim_connect_broker(opts, dir, &broker, host, sizeof(host), &port)) < 0) {
        return r;
    }
    if ((r = sim_cloud_start(host, port, on_cloud, &drv, &drv.cloud)) < 0) {
        sim_broker_stop(&broker);
        return r;
    }
    if ((r = sim_start_readers(sc, &drv.vr)) < 0) {
        sim_cloud_stop(drv.cloud, NULL, NULL);
        sim_broker_stop(&broker);
        return r;
    }
    if ((r = sim_write_store(sc, dir, sk_vreader_port(drv.vr), host, port, opts->verbose, NULL)) <
        0) {
        fprintf(stderr, "sim: cannot write the store files in %s: %s\n", dir, sk_strerror(r));
        sk_vreader_free(drv.vr);
        sim_cloud_stop(drv.cloud, NULL, NULL);
        sim_broker_stop(&broker);
        return r;
    }
    int attached = 0;
    r = 0;
    for (int c = 0; r == 0 && c < sc->n_cameras; c++) {
        if ((r = make_scene(sc, c, &drv.scenes[c])) == 0 &&
            (r = sk_synth_attach(sc_camera_name(sc, c), drv.scenes[c])) == 0) {
            attached++;
        }
    }
    drv.scene = drv.scenes[0];
    if (r < 0) {
        fprintf(stderr, "sim: cannot build the scene: %s\n", sk_strerror(r));
        for (int c = 0; c < sc->n_cameras; c++) {
            if (c < attached) {
                sk_synth_detach(sc_camera_name(sc, c));
            }
            sk_synth_free(drv.scenes[c]);
        }
        sk_vreader_free(drv.vr);
        sim_cloud_stop(drv.cloud, NULL, NULL);
        sim_broker_stop(&broker);
        return r;
    }
    const struct sk_service *services[MAX_SERVICES + 2];
    size_t n = 0;
    for (; n < MAX_SERVICES && sk_services[n]; n++) {
        services[n] = sk_services[n];
    }
    services[n++] = &driver_service;
    services[n] = NULL;
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/store.cfg", dir);
    struct sk_runtime_opts ro = {.config_path = cfg,
                                 .duration_s = sc->duration + 30.0, /* a safety net */
                                 .record_path = opts->record,
                                 .services = services};
    ret->exit_code = sk_runtime_main(&ro);
    for (int c = 0; c < sc->n_cameras; c++) {
        sk_synth_detach(sc_camera_name(sc, c));
        sk_synth_free(drv.scenes[c]);
    }
    sk_vreader_free(drv.vr);
    /* The runtime stopped cleanly (every PUBACK in): what it published is at the broker; the
     * marker comes back after all of it. */
    if (sim_cloud_flush(drv.cloud, 10000) < 0) {
        fprintf(stderr, "sim: the broker did not return the cloud's marker within 10 s\n");
    }
    sim_cloud_stop(drv.cloud, &ret->events, &ret->n_events);
    sim_broker_stop(&broker);
    snprintf(ret->source, sizeof(ret->source), "mqtt");
    if (ret->exit_code != 0) {
        fprintf(stderr, "sim: the runtime failed (exit %d); its files are in %s\n", ret->exit_code,
                dir);
        return -EIO;
    }
    if (!drv.started) {
        fprintf(stderr, "sim: the synthetic camera never delivered a frame\n");
        return -EIO;
    }
    r = sim_read_back(dir, ret);
    return r == 0 ? sim_write_files(sc, ret, dir) : r;
}

void sim_result_free(struct sim_result *r)
{
    for (size_t i = 0; r && i < r->n_events; i++) {
        free(r->events[i].payload);
    }
    if (r) {
        free(r->events);
        r->events = NULL;
        r->n_events = 0;
    }
}
