/* SPDX-License-Identifier: MIT */
/* `storekeeper diag camera`: capture frames, time the vision, write the technician's snapshot. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd_diag.h"
#include "storekeeper/camera.h"
#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/error.h"
#include "storekeeper/synth.h"
#include "storekeeper/vision.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper diag camera [-c STORE.cfg] NAME [OPTIONS]\n"
            "       storekeeper diag camera --list [--backend B] [--json]\n\n"
            "Opens camera NAME of the store file, runs N frames through the vision pipeline\n"
            "with the board's processing cap (as `run` does) and reports capture rate,\n"
            "processing time per frame, dropped and skipped frames, and tracks.\n"
            "With --snapshot it writes the last frame as a PNG with the zones (green, the\n"
            "shelf's reach edge orange), lines (blue, arrow to the inside), blobs (yellow) and\n"
            "track ids (red) drawn on it: the one time an image leaves memory. Do not share\n"
            "snapshots outside the store.\n\n"
            "With --calibrate it checks the camera's floor calibration: the fit of each marked\n"
            "point in cm, the floor the picture covers, where every zone, shelf edge and line\n"
            "declared on the floor plan lands in this picture, the overlap with the other\n"
            "calibrated cameras; the snapshot (default calibrate-NAME.png) draws the floor\n"
            "grid and every floor zone and line that lands in the picture.\n\n"
            "options:\n"
            "  -c, --config FILE    store configuration (default $STOREKEEPER_CONFIG or\n"
            "                       /etc/storekeeper/store.cfg)\n"
            "  -b, --board NAME     board profile, overriding the file's\n"
            "      --frames N       frames to process (default 50; the background model\n"
            "                       needs about 20 before it finds shoppers)\n"
            "      --snapshot PNG   write the annotated last frame to PNG (a floor-calibrated\n"
            "                       camera: the floor grid every metre in cyan, the marked\n"
            "                       points as magenta crosses)\n"
            "      --scale S        snapshot scale 1..4 (default 2)\n"
            "      --calibrate      check the floor calibration (above); 20 frames unless\n"
            "                       --frames; exit 2 when the camera has none\n"
            "      --events         print every track, zone and line event as it happens\n"
            "      --learn S        watch S seconds (instead of --frames) and propose the\n"
            "                       person-size settings (vision.person_px, blob limits)\n"
            "                       of the people tracked; with --snapshot, check that the\n"
            "                       tracked boxes are people\n"
            "      --no-pace        file and synthetic cameras: deliver frames as fast as\n"
            "                       they are processed, not at their frame rate\n"
            "      --list           list the cameras the libcamera and V4L2 backends see\n"
            "      --backend B      with --list: only this backend\n"
            "      --json           machine-readable report\n"
            "  -h, --help           this help\n\n"
            "exit codes: 0 PASS (frames captured and processed), 1 FAIL (camera cannot be\n"
            "            opened or delivers no frames), 2 usage or configuration error\n");
}

static int list_cameras(const char *only, bool json)
{
    static const char *const backends[] = {"libcamera", "v4l2"};
    struct sk_camera_info infos[16];
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "cameras") : NULL;
    int rc = SK_EXIT_OK;
    for (size_t b = 0; b < 2; b++) {
        if (only && strcmp(only, backends[b]) != 0) {
            continue;
        }
        int n = sk_camera_enumerate(backends[b], infos, 16);
        if (n < 0) {
            if (!json) {
                printf("%-10s %s\n", backends[b], sk_strerror(n));
            }
            if (n != SK_ENOMODULE) {
                rc = SK_EXIT_FAILURE;
            }
            continue;
        }
        if (!json) {
            printf("%-10s %d camera(s)\n", backends[b], n);
        }
        for (int i = 0; i < n && i < 16; i++) {
            if (json) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "backend", backends[b]);
                cJSON_AddStringToObject(e, "id", infos[i].id);
                cJSON_AddStringToObject(e, "model", infos[i].model);
                cJSON_AddItemToArray(arr, e);
            } else {
                printf("  %-40s %s\n", infos[i].id, infos[i].model);
            }
        }
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(root);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(root);
    }
    return rc;
}

static void print_event(int frame, const struct sk_vision_event *e)
{
    static const char *const names[] = {"",           "track new",  "track lost",
                                        "zone enter", "zone leave", "line cross"};
    printf("  frame %5d  %-10s track %-4u at %5.1f,%5.1f", frame,
           e->type >= 1 && e->type <= 5 ? names[e->type] : "?", e->track_id, e->x, e->y);
    if (e->name) {
        printf("  %s", e->name);
    }
    if (e->type == SK_VEV_LINE_CROSS) {
        printf(" %s", e->dir == SK_LINE_IN ? "in" : "out");
    }
    if (e->type == SK_VEV_ZONE_LEAVE) {
        printf(" after %.1f s", (double)e->dwell_us / 1e6);
    }
    printf("\n");
}

struct proposal {
    bool ok;
    size_t samples, tracks;
    double person_px, min_area, max_area, max_aspect, min_fill;
};

struct report {
    int frames, dropped, skipped, events, crossings, tracks_now;
    uint64_t entries, exits;
    uint64_t tracks_total;
    double capture_s, ms_per_frame, ms_resize, ms_background, ms_blobs, ms_tracking;
    int width, height, vision_w, vision_h, max_fps;
    double person_px;
    const struct proposal *learn;
    const char *backend;
    const struct sk_config *cfg; /* for the floor calibration */
    const struct sk_camera_cfg *cc;
    bool calibrate; /* --calibrate: the calibration report instead of the floor lines */
};

/*
 * The floor calibration as a technician checks it: how well the marked points fit (the worst
 * one, in metres), where the picture's corners and centre lie on the floor plan, and how much of
 * the picture another calibrated camera sees too (taking its processing size as this one's):
 * a handover needs views that overlap, or at least meet.
 */
struct floor_check {
    size_t points;
    double worst_m;
    size_t worst;
    double corners[5][2]; /* top left, top right, bottom right, bottom left, centre */
    bool horizon;         /* a corner maps to infinity or beyond: the points are wrong */
};

static void floor_check(const struct sk_camera_cfg *cc, int w, int h, struct floor_check *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->points = cc->floor_len / 4;
    for (size_t k = 0; k < ret->points; k++) {
        const double *p = &cc->floor[4 * k];
        double x, y;
        double off = sk_homography_apply(&cc->floor_map, p[0], p[1], &x, &y)
                             ? hypot(x - p[2], y - p[3])
                             : INFINITY;
        if (off > ret->worst_m) {
            ret->worst_m = off;
            ret->worst = k + 1;
        }
    }
    const double px[5][2] = {{0, 0}, {w, 0}, {w, h}, {0, h}, {w / 2.0, h / 2.0}};
    const double *m = cc->floor_map.m;
    double w0 = m[6] * px[4][0] + m[7] * px[4][1] + m[8];
    for (int i = 0; i < 5; i++) {
        double wi = m[6] * px[i][0] + m[7] * px[i][1] + m[8];
        if (wi * w0 <= 0 || !sk_homography_apply(&cc->floor_map, px[i][0], px[i][1],
                                                 &ret->corners[i][0], &ret->corners[i][1])) {
            ret->horizon = true;
        }
    }
}

/* The share of this picture (a 32 x 24 grid, w x h) that other's picture sees (at its own
 * processing size; this one's when unknown), points beyond its horizon not counted. */
static double
floor_overlap(const struct sk_camera_cfg *cc, const struct sk_camera_cfg *other, int w, int h)
{
    int ow = other->proc_width > 0 ? other->proc_width : w;
    int oh = other->proc_height > 0 ? other->proc_height : h;
    int in = 0, n = 0;
    for (int j = 0; j < 24; j++) {
        for (int i = 0; i < 32; i++) {
            double u = (i + 0.5) * w / 32.0, v = (j + 0.5) * h / 24.0, x, y, ou, ov;
            n++;
            if (sk_homography_apply(&cc->floor_map, u, v, &x, &y) &&
                sk_camera_floor_to_px(other, ow, oh, x, y, &ou, &ov) && ou >= 0 && ou < ow &&
                ov >= 0 && ov < oh) {
                in++;
            }
        }
    }
    return n ? (double)in / n : 0;
}

static void print_floor(const struct report *r, cJSON *o)
{
    const struct sk_camera_cfg *cc = r->cc;
    if (!cc || r->vision_w <= 0) {
        return; /* the camera never delivered: nothing to show the calibration on */
    }
    if (!cc->has_floor) {
        if (!o) {
            printf("  floor        not calibrated (cameras.[].floor): tracks stay this camera's\n");
        } else {
            cJSON_AddNullToObject(o, "floor");
        }
        return;
    }
    struct floor_check fc;
    floor_check(cc, r->vision_w, r->vision_h, &fc);
    static const char *const names[5] = {"top_left", "top_right", "bottom_right", "bottom_left",
                                         "centre"};
    cJSON *fo = o ? cJSON_AddObjectToObject(o, "floor") : NULL;
    if (fo) {
        cJSON_AddNumberToObject(fo, "points", (double)fc.points);
        cJSON_AddNumberToObject(fo, "worst_m", fc.worst_m);
        cJSON_AddNumberToObject(fo, "worst_point", (double)fc.worst);
        cJSON_AddBoolToObject(fo, "horizon_in_view", fc.horizon);
        for (int i = 0; i < 5; i++) {
            cJSON *c = cJSON_AddArrayToObject(fo, names[i]);
            cJSON_AddItemToArray(c, cJSON_CreateNumber(fc.corners[i][0]));
            cJSON_AddItemToArray(c, cJSON_CreateNumber(fc.corners[i][1]));
        }
    } else {
        printf("  floor        %zu points, the worst (point %zu) %.2f m from where the map puts "
               "it\n",
               fc.points, fc.worst, fc.worst_m);
        if (fc.horizon) {
            printf("               the map puts the horizon inside the picture: points mistyped "
                   "or swapped (u, v, x, y each)\n");
        } else {
            printf("               picture on the floor: top left (%.2f, %.2f), top right (%.2f, "
                   "%.2f), bottom right (%.2f, %.2f), bottom left (%.2f, %.2f), centre (%.2f, "
                   "%.2f) m\n",
                   fc.corners[0][0], fc.corners[0][1], fc.corners[1][0], fc.corners[1][1],
                   fc.corners[2][0], fc.corners[2][1], fc.corners[3][0], fc.corners[3][1],
                   fc.corners[4][0], fc.corners[4][1]);
        }
    }
    cJSON *ov = fo ? cJSON_AddObjectToObject(fo, "overlap") : NULL;
    for (size_t i = 0; i < r->cfg->n_cameras; i++) {
        const struct sk_camera_cfg *other = &r->cfg->cameras[i];
        if (other == cc || !other->has_floor) {
            continue;
        }
        double share = floor_overlap(cc, other, r->vision_w, r->vision_h);
        if (ov) {
            cJSON_AddNumberToObject(ov, other->name, share);
        } else {
            printf("               camera %s sees %.0f %% of this picture%s\n", other->name,
                   100 * share,
                   share > 0 ? "" : ": no overlap, shoppers are handed over by a join only");
        }
    }
}

/* Prints a JSON report on one line and frees it; snapshot: the file written, or NULL. */
static void json_print(cJSON *o, bool with_snapshot, const char *snapshot)
{
    if (with_snapshot && snapshot) {
        cJSON_AddStringToObject(o, "snapshot", snapshot);
    } else if (with_snapshot) {
        cJSON_AddNullToObject(o, "snapshot");
    }
    char *text = cJSON_PrintUnformatted(o);
    printf("%s\n", text ? text : "{}");
    cJSON_free(text);
    cJSON_Delete(o);
}

/* ---- --calibrate ----------------------------------------------------------------------- */

/* The area of a polygon of n points (shoelace), for the floor the picture covers. */
static double polygon_area(const double (*p)[2], int n)
{
    double a = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        a += p[j][0] * p[i][1] - p[i][0] * p[j][1];
    }
    return fabs(a) / 2;
}

/* "A1, B1" for the shelves standing at a zone; empty for none. */
static void zone_shelves(const struct sk_config *cfg, const char *zone, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->n_shelves && off < size; i++) {
        if (strcmp(cfg->shelves[i].zone, zone) == 0) {
            int r = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", cfg->shelves[i].name);
            off += r > 0 ? (size_t)r : 0;
        }
    }
}

/* How much of a zone or line (n points, in of them in the picture) this camera sees. */
static const char *view_word(int in, size_t n, bool json)
{
    if (in < 0) {
        return json ? "behind" : "behind the camera";
    }
    if (in == 0) {
        return json ? "none" : "out of view";
    }
    if ((size_t)in == n) {
        return json ? "whole" : "in view";
    }
    return json ? "partly" : "partly in view";
}

static void add_points(cJSON *o, const char *key, const double *p, size_t n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (size_t k = 0; k < n; k++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(round(p[k] * 10) / 10));
    }
}

static void print_points(const double *p, size_t n)
{
    for (size_t k = 0; k + 1 < n; k += 2) {
        printf(" (%.1f, %.1f)", p[k], p[k + 1]);
    }
}

/* Where each zone and line lands in this picture: floor ones projected, pixel ones as drawn. */
static void
calibration_layout(const struct sk_config *cfg, const struct sk_camera_cfg *cc, cJSON *o)
{
    cJSON *za = o ? cJSON_AddArrayToObject(o, "zones") : NULL;
    for (size_t i = 0; i < cfg->n_zones; i++) {
        const struct sk_zone_cfg *z = &cfg->zones[i];
        if (!z->floor_len && strcmp(z->camera, cc->name) != 0) {
            continue; /* another camera's pixels */
        }
        char shelves[160];
        zone_shelves(cfg, z->name, shelves, sizeof(shelves));
        double poly[2 * SK_POLY_MAX], reach[4];
        int in = (int)(z->polygon_len + z->reach_len) / 2;
        size_t n = (z->floor_len + z->floor_reach_len) / 2;
        if (z->floor_len) {
            in = sk_zone_floor_to_px(cc, z, poly, reach);
        } else {
            memcpy(poly, z->polygon, z->polygon_len * sizeof(double));
            memcpy(reach, z->reach, z->reach_len * sizeof(double));
            n = (size_t)in;
        }
        size_t np = z->floor_len ? z->floor_len : z->polygon_len;
        size_t nr = z->floor_len ? z->floor_reach_len : z->reach_len;
        const char *watch = z->camera[0] ? z->camera : "no camera";
        if (za) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", z->name);
            cJSON_AddStringToObject(e, "shelves", shelves);
            cJSON_AddStringToObject(e, "declared", z->floor_len ? "floor" : "pixels");
            cJSON_AddStringToObject(e, "in_view", view_word(in, n, true));
            cJSON_AddStringToObject(e, "watched_by", z->camera);
            if (in >= 0) {
                add_points(e, "polygon", poly, np);
                add_points(e, "reach", reach, nr);
            }
            cJSON_AddItemToArray(za, e);
            continue;
        }
        printf("  zone %s%s%s%s: %s%s%s", z->name, shelves[0] ? " (shelf " : "", shelves,
               shelves[0] ? ")" : "", z->floor_len ? "" : "in this camera's pixels, ",
               view_word(in, n, false), in > 0 ? " at" : "");
        if (in > 0) {
            print_points(poly, np);
            if (nr) {
                printf(", edge");
                print_points(reach, nr);
            }
            printf(" px");
        }
        printf("; watched by %s\n", watch);
    }
    cJSON *la = o ? cJSON_AddArrayToObject(o, "lines") : NULL;
    for (size_t i = 0; i < cfg->n_lines; i++) {
        const struct sk_line_cfg *ln = &cfg->lines[i];
        if (!ln->floor_len && strcmp(ln->camera, cc->name) != 0) {
            continue;
        }
        double p[4];
        int inside = ln->inside, in = 2;
        if (ln->floor_len) {
            in = sk_line_floor_to_px(cc, ln, p, &inside);
        } else {
            memcpy(p, ln->points, sizeof(p));
        }
        if (la) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", ln->name);
            cJSON_AddStringToObject(e, "declared", ln->floor_len ? "floor" : "pixels");
            cJSON_AddStringToObject(e, "in_view", view_word(in, 2, true));
            cJSON_AddStringToObject(e, "watched_by", ln->camera);
            if (in >= 0) {
                add_points(e, "points", p, 4);
                cJSON_AddStringToObject(e, "inside", inside == 0 ? "left" : "right");
            }
            cJSON_AddItemToArray(la, e);
            continue;
        }
        printf("  line %s: %s%s", ln->name, ln->floor_len ? "" : "in this camera's pixels, ",
               view_word(in, 2, false));
        if (in > 0) {
            printf(" at (%.1f, %.1f) -> (%.1f, %.1f) px, inside on the %s", p[0], p[1], p[2], p[3],
                   inside == 0 ? "left" : "right");
        }
        printf("; watched by %s\n", ln->camera[0] ? ln->camera : "no camera");
    }
}

/*
 * The technician's check of a floor calibration, without a frame: how it was made, how well
 * each marked point fits (cm), the floor the picture covers, where the layout lands, the
 * overlap with the other calibrated cameras. o: the JSON report, or NULL to print.
 */
static void
calibration_report(const struct sk_config *cfg, const struct sk_camera_cfg *cc, cJSON *o)
{
    int w = cc->proc_width, h = cc->proc_height;
    struct floor_check fc;
    floor_check(cc, w, h, &fc);
    const struct sk_mount_cfg *m = &cc->mount;
    cJSON *co = o ? cJSON_AddObjectToObject(o, "calibration") : NULL;
    if (co) {
        cJSON_AddStringToObject(co, "source", cc->has_mount ? "mount" : "points");
        cJSON_AddNumberToObject(co, "width", w);
        cJSON_AddNumberToObject(co, "height", h);
    } else if (cc->has_mount) {
        printf("calibration  camera %s from its mount: lens %.2f m above (%.2f, %.2f) m, %.1f "
               "degree lens, picture x at %.1f degrees, tilted %.1f degrees; at %dx%d px\n",
               cc->name, m->height_m, m->x, m->y, sk_mount_fov_deg(m), m->rotation_deg, m->tilt_deg,
               w, h);
        printf("  points       none marked: check the grid in the snapshot against a few floor "
               "marks\n");
    } else {
        printf("calibration  camera %s from %zu marked points, at %dx%d px\n", cc->name, fc.points,
               w, h);
    }
    cJSON *pa = co ? cJSON_AddArrayToObject(co, "points") : NULL;
    double sum = 0;
    for (size_t k = 0; k < fc.points; k++) {
        const double *p = &cc->floor[4 * k];
        double x, y;
        double off = sk_homography_apply(&cc->floor_map, p[0], p[1], &x, &y)
                             ? hypot(x - p[2], y - p[3])
                             : INFINITY;
        sum += off;
        if (pa) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "u", p[0]);
            cJSON_AddNumberToObject(e, "v", p[1]);
            cJSON_AddNumberToObject(e, "x", p[2]);
            cJSON_AddNumberToObject(e, "y", p[3]);
            cJSON_AddNumberToObject(e, "off_cm", round(off * 1000) / 10);
            cJSON_AddItemToArray(pa, e);
        } else {
            printf("  point %-2zu     (%.1f, %.1f) px = (%.2f, %.2f) m: the map puts it %.1f cm "
                   "off\n",
                   k + 1, p[0], p[1], p[2], p[3], off * 100);
        }
    }
    double mean_cm = fc.points ? sum / (double)fc.points * 100 : 0;
    double area = fc.horizon ? 0 : polygon_area((const double(*)[2])fc.corners, 4);
    if (co) {
        cJSON_AddNumberToObject(co, "worst_cm", round(fc.worst_m * 1000) / 10);
        cJSON_AddNumberToObject(co, "mean_cm", round(mean_cm * 10) / 10);
        cJSON_AddBoolToObject(co, "horizon_in_view", fc.horizon);
        cJSON_AddNumberToObject(co, "area_m2", round(area * 100) / 100);
        cJSON *ca = cJSON_AddArrayToObject(co, "corners");
        for (int i = 0; i < 4 && !fc.horizon; i++) {
            cJSON *c = cJSON_CreateArray();
            cJSON_AddItemToArray(c, cJSON_CreateNumber(round(fc.corners[i][0] * 100) / 100));
            cJSON_AddItemToArray(c, cJSON_CreateNumber(round(fc.corners[i][1] * 100) / 100));
            cJSON_AddItemToArray(ca, c);
        }
    } else {
        if (fc.points == 4) {
            printf("  fit          four points fit any map exactly: mark a fifth (or more) to "
                   "check "
                   "them\n");
        } else if (fc.points) {
            printf("  fit          the worst point %zu off by %.1f cm, %.1f cm on average%s\n",
                   fc.worst, fc.worst_m * 100, mean_cm,
                   fc.worst_m > 0.05 ? ": re-measure it, or mark more points" : "");
        }
        if (fc.horizon) {
            printf("  floor        the map puts the horizon inside the picture: points mistyped or "
                   "swapped (u, v, x, y each)\n");
        } else {
            printf("  floor        %.1f m2 covered: top left (%.2f, %.2f), top right (%.2f, %.2f), "
                   "bottom right (%.2f, %.2f), bottom left (%.2f, %.2f) m\n",
                   area, fc.corners[0][0], fc.corners[0][1], fc.corners[1][0], fc.corners[1][1],
                   fc.corners[2][0], fc.corners[2][1], fc.corners[3][0], fc.corners[3][1]);
        }
    }
    calibration_layout(cfg, cc, co);
    cJSON *ov = co ? cJSON_AddObjectToObject(co, "overlap") : NULL;
    for (size_t i = 0; i < cfg->n_cameras; i++) {
        const struct sk_camera_cfg *other = &cfg->cameras[i];
        if (other == cc || !other->has_floor) {
            continue;
        }
        double share = floor_overlap(cc, other, w, h);
        if (ov) {
            cJSON_AddNumberToObject(ov, other->name, share);
        } else {
            printf("  overlap      camera %s sees %.0f %% of this picture%s\n", other->name,
                   100 * share,
                   share > 0 ? "" : ": no overlap, shoppers are handed over by a join only");
        }
    }
}

/* --calibrate on a camera without a floor map: what to give it. */
static void not_calibrated(const struct sk_camera_cfg *cc, bool json)
{
    const char *why_not = "not calibrated to the floor plan: give it cameras.[].floor (4 to 16 "
                          "marked points: u, v, x, y) or cameras.[].mount (height, lens, "
                          "position); docs/vision.md, Floor calibration";
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "camera", cc->name);
        cJSON_AddStringToObject(o, "result", "ERROR");
        cJSON_AddStringToObject(o, "reason", why_not);
        json_print(o, false, NULL);
    }
    fprintf(stderr, "storekeeper diag camera: camera %s is %s\n", cc->name, why_not);
}

int cli_diag_camera_calibration(const struct sk_config *cfg,
                                const char *name,
                                const char *snapshot,
                                bool json)
{
    const struct sk_camera_cfg *cc = sk_config_camera(cfg, name);
    if (!cc) {
        return SK_EXIT_USAGE;
    }
    if (!cc->has_floor) {
        not_calibrated(cc, json);
        return SK_EXIT_USAGE;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "camera", name);
        cJSON_AddStringToObject(o, "mode", "daemon");
        cJSON_AddStringToObject(o, "result", "PASS");
        calibration_report(cfg, cc, o);
        json_print(o, true, snapshot);
        return SK_EXIT_OK;
    }
    printf("camera %s: the daemon runs it; the calibration as the store file gives it\n", name);
    calibration_report(cfg, cc, NULL);
    if (snapshot) {
        printf("  snapshot     %s (the daemon's next frame: floor grid, its own zones and lines)\n",
               snapshot);
    }
    printf("PASS\n");
    return SK_EXIT_OK;
}

/* What one camera's pipeline holds (vision/vision_internal.h; the loader refuses more). */
#define CAL_MAX_ZONES 64
#define CAL_MAX_LINES 16

/*
 * The zones and lines the calibration snapshot draws: this camera's own and every floor one
 * projected into it (whichever camera watches it), as this camera's. Owned copies.
 */
static int calibration_layout_for(const struct sk_config *cfg,
                                  const struct sk_camera_cfg *cc,
                                  struct sk_zone_cfg **ret_zones,
                                  size_t *ret_nz,
                                  struct sk_line_cfg **ret_lines,
                                  size_t *ret_nl)
{
    struct sk_zone_cfg *z = calloc(cfg->n_zones + 1, sizeof(*z));
    struct sk_line_cfg *l = calloc(cfg->n_lines + 1, sizeof(*l));
    if (!z || !l) {
        free(z);
        free(l);
        return -ENOMEM;
    }
    size_t nz = 0, nl = 0;
    for (size_t i = 0; i < cfg->n_zones && nz < CAL_MAX_ZONES; i++) {
        z[nz] = cfg->zones[i];
        if (cfg->zones[i].floor_len) {
            if (sk_zone_floor_to_px(cc, &cfg->zones[i], z[nz].polygon, z[nz].reach) <= 0) {
                continue;
            }
            z[nz].polygon_len = z[nz].floor_len;
            z[nz].reach_len = z[nz].floor_reach_len;
            snprintf(z[nz].camera, sizeof(z[nz].camera), "%s", cc->name);
        }
        nz += strcmp(z[nz].camera, cc->name) == 0;
    }
    for (size_t i = 0; i < cfg->n_lines && nl < CAL_MAX_LINES; i++) {
        l[nl] = cfg->lines[i];
        if (cfg->lines[i].floor_len) {
            if (sk_line_floor_to_px(cc, &cfg->lines[i], l[nl].points, &l[nl].inside) <= 0) {
                continue;
            }
            l[nl].points_len = 4;
            snprintf(l[nl].camera, sizeof(l[nl].camera), "%s", cc->name);
        }
        nl += strcmp(l[nl].camera, cc->name) == 0;
    }
    *ret_zones = z;
    *ret_nz = nz;
    *ret_lines = l;
    *ret_nl = nl;
    return 0;
}

static void print_report(const char *name,
                         const struct report *r,
                         const char *snapshot,
                         const char *verdict,
                         const char *why,
                         bool json)
{
    double fps = r->capture_s > 0 ? r->frames / r->capture_s : 0;
    if (json) {
        /* cJSON: names, paths and reasons are outside text (a device path may hold quotes) */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "camera", name);
        cJSON_AddStringToObject(o, "backend", r->backend ? r->backend : "");
        cJSON_AddStringToObject(o, "result", verdict);
        cJSON_AddStringToObject(o, "reason", why);
        cJSON_AddNumberToObject(o, "frames", r->frames);
        cJSON_AddNumberToObject(o, "width", r->width);
        cJSON_AddNumberToObject(o, "height", r->height);
        cJSON_AddNumberToObject(o, "fps", fps);
        cJSON_AddNumberToObject(o, "ms_per_frame", r->ms_per_frame);
        cJSON_AddNumberToObject(o, "ms_resize", r->ms_resize);
        cJSON_AddNumberToObject(o, "ms_background", r->ms_background);
        cJSON_AddNumberToObject(o, "ms_blobs", r->ms_blobs);
        cJSON_AddNumberToObject(o, "ms_tracking", r->ms_tracking);
        cJSON_AddNumberToObject(o, "dropped", r->dropped);
        cJSON_AddNumberToObject(o, "skipped", r->skipped);
        cJSON_AddNumberToObject(o, "processed", r->frames - r->skipped);
        cJSON_AddNumberToObject(o, "max_fps", r->max_fps);
        cJSON_AddNumberToObject(o, "vision_width", r->vision_w);
        cJSON_AddNumberToObject(o, "vision_height", r->vision_h);
        cJSON_AddNumberToObject(o, "person_px", r->person_px);
        if (r->learn) {
            cJSON *l = cJSON_AddObjectToObject(o, "learn");
            cJSON_AddNumberToObject(l, "samples", (double)r->learn->samples);
            cJSON_AddNumberToObject(l, "people", (double)r->learn->tracks);
            if (r->learn->ok) {
                cJSON_AddNumberToObject(l, "person_px", r->learn->person_px);
                cJSON_AddNumberToObject(l, "min_blob_area", r->learn->min_area);
                cJSON_AddNumberToObject(l, "max_blob_area", r->learn->max_area);
                cJSON_AddNumberToObject(l, "max_blob_aspect", r->learn->max_aspect);
                cJSON_AddNumberToObject(l, "min_blob_fill", r->learn->min_fill);
            }
        }
        cJSON_AddNumberToObject(o, "tracks_now", r->tracks_now);
        cJSON_AddNumberToObject(o, "tracks_total", (double)r->tracks_total);
        cJSON_AddNumberToObject(o, "events", r->events);
        cJSON_AddNumberToObject(o, "line_crossings", r->crossings);
        cJSON_AddNumberToObject(o, "crossings_in", (double)r->entries);
        cJSON_AddNumberToObject(o, "crossings_out", (double)r->exits);
        if (r->calibrate) {
            calibration_report(r->cfg, r->cc, o);
        } else {
            print_floor(r, o);
        }
        json_print(o, true, snapshot);
        return;
    }
    printf("camera %s (%s)\n", name, r->backend ? r->backend : "?");
    printf("  frames       %d at %dx%d, %.1f fps captured, %d dropped; %d processed at %dx%d "
           "(board cap %d fps, %d skipped)\n",
           r->frames, r->width, r->height, fps, r->dropped, r->frames - r->skipped, r->vision_w,
           r->vision_h, r->max_fps, r->skipped);
    printf("  vision       %.3f ms/frame (scale %.3f, background %.3f, blobs %.3f, "
           "tracking %.3f)\n",
           r->ms_per_frame, r->ms_resize, r->ms_background, r->ms_blobs, r->ms_tracking);
    printf("  tracks       %d in view, %llu seen; %d events, %d line crossings (%llu in, %llu "
           "out)\n",
           r->tracks_now, (unsigned long long)r->tracks_total, r->events, r->crossings,
           (unsigned long long)r->entries, (unsigned long long)r->exits);
    if (r->calibrate) {
        if (r->vision_w > 0 &&
            (r->vision_w != r->cc->proc_width || r->vision_h != r->cc->proc_height)) {
            printf("  note         the camera delivers %dx%d processing pixels, the calibration "
                   "is read at %dx%d: set cameras.[].width and height to its capture size\n",
                   r->vision_w, r->vision_h, r->cc->proc_width, r->cc->proc_height);
        }
        calibration_report(r->cfg, r->cc, NULL);
    } else {
        print_floor(r, NULL);
    }
    if (snapshot) {
        printf("  snapshot     %s%s\n", snapshot,
               r->calibrate ? " (floor grid cyan, marked points magenta, zones green, shelf "
                              "edges orange, lines blue)"
                            : "");
    }
    printf("%s%s%s\n", verdict, why[0] ? ": " : "", why);
}

/*
 * --learn: the blobs of the people the pipeline tracked (confirmed, not merged, one sample
 * per frame and track), and the person-size settings they suggest. Proposals, printed for
 * the technician to copy into the store file: nothing is changed.
 */
#define LEARN_MAX 20000

struct learn {
    float area[LEARN_MAX], aspect[LEARN_MAX], fill[LEARN_MAX];
    size_t n;
    uint32_t tracks[64];
    size_t n_tracks;
};

static void learn_frame(struct learn *l, const struct sk_vision *v)
{
    size_t nt, nb;
    const struct sk_vision_track *t = sk_vision_tracks(v, &nt);
    const struct sk_vision_blob *b = sk_vision_blobs(v, &nb);
    for (size_t i = 0; i < nt && l->n < LEARN_MAX; i++) {
        if (!t[i].confirmed || t[i].merged || t[i].missed) {
            continue;
        }
        for (size_t k = 0; k < nb; k++) {
            if (b[k].x != t[i].bx || b[k].y != t[i].by || b[k].w != t[i].bw || b[k].h != t[i].bh) {
                continue;
            }
            int lo = b[k].w < b[k].h ? b[k].w : b[k].h, hi = b[k].w < b[k].h ? b[k].h : b[k].w;
            l->area[l->n] = (float)b[k].area;
            l->aspect[l->n] = (float)hi / (float)(lo > 0 ? lo : 1);
            l->fill[l->n] = (float)b[k].area / (float)(b[k].w * b[k].h);
            l->n++;
            bool known = false;
            for (size_t j = 0; j < l->n_tracks; j++) {
                known |= l->tracks[j] == t[i].id;
            }
            if (!known && l->n_tracks < 64) {
                l->tracks[l->n_tracks++] = t[i].id;
            }
            break;
        }
    }
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static float pct(float *v, size_t n, double p)
{
    qsort(v, n, sizeof(float), cmp_f);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void learn_propose(struct learn *l, struct proposal *p)
{
    memset(p, 0, sizeof(*p));
    p->samples = l->n;
    p->tracks = l->n_tracks;
    if (l->n < 20 || l->n_tracks < 1) {
        return;
    }
    float median = pct(l->area, l->n, 0.5), big = pct(l->area, l->n, 0.9);
    p->person_px = sqrt((double)median);
    /* the noise floor well under the smallest person, groups up to four large ones */
    p->min_area = floor(0.1 * median);
    p->max_area = ceil(4.0 * big);
    p->max_aspect = ceil(15.0 * pct(l->aspect, l->n, 0.95)) / 10.0;
    p->max_aspect = p->max_aspect < 2 ? 2 : p->max_aspect;
    p->min_fill = floor(70.0 * pct(l->fill, l->n, 0.05)) / 100.0;
    p->min_fill = p->min_fill < 0.05 ? 0.05 : p->min_fill;
    p->ok = true;
}

static void print_proposal(const struct proposal *p, int seconds)
{
    printf("learnt over %d s: %zu sightings of %zu tracked people\n", seconds, p->samples,
           p->tracks);
    if (!p->ok) {
        printf("  too few people to propose settings: let people walk through and try again\n");
        return;
    }
    printf("proposed settings (copy into the store file's vision group):\n"
           "vision = {\n"
           "  person_px = %.1f;        # a person's blob: %.0f px at the median\n"
           "  min_blob_area = %.0f;     # smaller is noise\n"
           "  max_blob_area = %.0f;    # a group of people\n"
           "  max_blob_aspect = %.1f;\n"
           "  min_blob_fill = %.2f;\n"
           "};\n",
           p->person_px, p->person_px * p->person_px, p->min_area, p->max_area, p->max_aspect,
           p->min_fill);
}

int cli_diag_camera_direct(int argc, char **argv)
{
    const char *config = NULL, *board = NULL, *snapshot = NULL, *only = NULL;
    int frames = 0, scale = 2, learn_s = 0;
    bool list = false, json = false, no_pace = false, show_events = false, calibrate = false;
    const struct sk_opt table[] = {
            SK_OPT_STRING("config", 'c', &config),
            SK_OPT_STRING("board", 'b', &board),
            SK_OPT_INT("frames", 0, &frames, 1, 100000),
            SK_OPT_STRING("snapshot", 0, &snapshot),
            SK_OPT_INT("scale", 0, &scale, 1, 4),
            SK_OPT_FLAG("list", 0, &list),
            SK_OPT_STRING("backend", 0, &only),
            SK_OPT_FLAG("json", 0, &json),
            SK_OPT_FLAG("no-pace", 0, &no_pace),
            SK_OPT_FLAG("events", 0, &show_events),
            SK_OPT_INT("learn", 0, &learn_s, 1, 3600),
            SK_OPT_FLAG("calibrate", 0, &calibrate),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "diag camera",
                                 .opts = table,
                                 .usage = usage,
                                 .max_operands = SK_ARGS_OPERANDS_ANY};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    bool pace = !no_pace;
    if (list) {
        return list_cameras(only, json);
    }
    if (!config || first != argc - 1) {
        return sk_cli_usage_error("diag camera", "give -c STORE.cfg and one camera NAME");
    }
    const char *name = argv[first];
    struct sk_config *cfg = NULL;
    if (sk_config_load_print(config, board, &cfg) < 0) {
        return SK_EXIT_USAGE;
    }
    const struct sk_camera_cfg *cc = sk_config_camera(cfg, name);
    if (!cc) {
        fprintf(stderr, "storekeeper diag camera: %s has no camera \"%s\"\n", config, name);
        sk_config_free(cfg);
        return SK_EXIT_USAGE;
    }
    if (calibrate && !cc->has_floor) {
        not_calibrated(cc, json);
        sk_config_free(cfg);
        return SK_EXIT_USAGE;
    }
    char calib_png[SK_PATH_MAX + 32];
    if (calibrate && !snapshot) {
        snprintf(calib_png, sizeof(calib_png), "calibrate-%s.png", cc->name);
        snapshot = calib_png;
    }
    if (!frames) {
        frames = calibrate ? 20 : 50;
    }
    char device[SK_PATH_MAX] = "";
    if (cc->device[0]) {
        sk_config_resolve_path(cfg, cc->device, device, sizeof(device));
    }
    struct sk_vision_params vp;
    sk_vision_params_for_camera(&vp, cfg, cc);
    struct sk_camera_params cp = {.backend = cc->backend,
                                  .device = device,
                                  .width = cc->width,
                                  .height = cc->height,
                                  .fps = cc->fps,
                                  .realtime = pace,
                                  .scene = sk_synth_attached(cc->name)};
    struct report rep = {.backend = cc->backend, .cfg = cfg, .cc = cc, .calibrate = calibrate};
    struct sk_zone_cfg *czones = NULL;
    struct sk_line_cfg *clines = NULL;
    size_t ncz = 0, ncl = 0;
    struct learn *learn = NULL;
    struct proposal prop = {0};
    struct sk_camera *cam = NULL;
    struct sk_vision *v = NULL;
    const char *verdict = "FAIL";
    char why[512] = "";
    int rc = SK_EXIT_FAILURE;
    int r = sk_camera_open(&cp, &cam);
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot open %s camera \"%s\": %s", cc->backend, device,
                 sk_strerror(r));
        goto out;
    }
    if (calibrate) { /* every floor zone and line that lands in the picture, for the snapshot */
        r = calibration_layout_for(cfg, cc, &czones, &ncz, &clines, &ncl);
        if (r < 0) {
            snprintf(why, sizeof(why), "out of memory");
            goto out;
        }
        r = sk_vision_new(&vp, cc->name, czones, ncz, clines, ncl, &v);
    } else {
        r = sk_vision_new(&vp, cc->name, cfg->zones, cfg->n_zones, cfg->lines, cfg->n_lines, &v);
    }
    if (r < 0) {
        snprintf(why, sizeof(why), "vision: %s", sk_strerror(r));
        goto out;
    }
    sk_vision_set_floor(v, cc);
    struct sk_vision_pacer pacer;
    sk_vision_pacer_init(&pacer, cfg->board.vision_max_fps);
    int64_t start = sk_now_mono_us();
    bool have_seq = false;
    uint64_t last_seq = 0;
    int64_t first_t = -1;
    if (learn_s > 0) {
        learn = calloc(1, sizeof(*learn));
        if (!learn) {
            snprintf(why, sizeof(why), "out of memory");
            goto out;
        }
        frames = 1000000; /* until learn_s of media time have passed */
    }
    for (long i = 0; i < frames; i++) {
        struct sk_frame f;
        r = sk_camera_capture(cam, 2000, &f);
        if (r == -ENODATA) {
            r = 0;
            break; /* the clip is shorter than --frames */
        }
        if (r < 0) {
            snprintf(why, sizeof(why), "capture: %s after %d frame(s)", sk_strerror(r), rep.frames);
            break;
        }
        if (have_seq && f.seq > last_seq + 1) {
            rep.dropped += (int)(f.seq - last_seq - 1);
        }
        have_seq = true;
        last_seq = f.seq;
        rep.width = f.width;
        rep.height = f.height;
        first_t = first_t < 0 ? f.t_us : first_t;
        if (learn && f.t_us - first_t >= (int64_t)learn_s * 1000000) {
            break;
        }
        /* the board's cap, by the daemon's rule: what is counted here is what run counts */
        if (!sk_vision_pacer_take(&pacer, f.t_us)) {
            rep.skipped++;
            rep.frames++;
            continue;
        }
        int n = sk_vision_process(v, &f);
        if (n < 0) {
            snprintf(why, sizeof(why), "vision: %s", sk_strerror(n));
            r = n;
            break;
        }
        size_t ne;
        const struct sk_vision_event *ev = sk_vision_events(v, &ne);
        for (size_t k = 0; k < ne; k++) {
            rep.crossings += ev[k].type == SK_VEV_LINE_CROSS;
            if (show_events && !json) {
                print_event(rep.frames, &ev[k]);
            }
        }
        rep.events += n;
        rep.frames++;
        if (learn) {
            learn_frame(learn, v);
        }
    }
    rep.capture_s = (double)(sk_now_mono_us() - start) / 1e6;
    struct sk_vision_stats st;
    sk_vision_get_stats(v, &st);
    if (st.frames) {
        rep.ms_resize = st.ms_resize / (double)st.frames;
        rep.ms_background = st.ms_background / (double)st.frames;
        rep.ms_blobs = st.ms_blobs / (double)st.frames;
        rep.ms_tracking = st.ms_tracking / (double)st.frames;
        rep.ms_per_frame = rep.ms_resize + rep.ms_background + rep.ms_blobs + rep.ms_tracking;
    }
    rep.tracks_now = (int)st.tracks_active;
    rep.vision_w = st.width;
    rep.vision_h = st.height;
    rep.person_px = st.person_px;
    rep.max_fps = (int)((1000000 + pacer.period_us / 2) / pacer.period_us);
    rep.tracks_total = st.tracks_total;
    rep.entries = st.entries;
    rep.exits = st.exits;
    if (rep.frames == 0) {
        if (!why[0]) {
            snprintf(why, sizeof(why), "no frames");
        }
        goto out;
    }
    if (snapshot) {
        int w = sk_vision_write_png(v, snapshot, (int)scale);
        if (w < 0) {
            snprintf(why, sizeof(why), "cannot write %s: %s", snapshot, sk_strerror(w));
            snapshot = NULL;
            goto out;
        }
    }
    if (r < 0) {
        goto out;
    }
    verdict = "PASS";
    rc = SK_EXIT_OK;
    if (learn) {
        learn_propose(learn, &prop);
        rep.learn = &prop;
        if (!json) {
            print_proposal(&prop, learn_s);
        }
    }
out:
    free(learn);
    free(czones);
    free(clines);
    print_report(name, &rep, rc == SK_EXIT_OK ? snapshot : NULL, verdict, why, json);
    sk_vision_free(v);
    sk_camera_close(cam);
    sk_config_free(cfg);
    return rc;
}
