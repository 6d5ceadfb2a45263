/* SPDX-License-Identifier: MIT */
/* The technician's snapshot: the processed frame with zones, lines, blobs and tracks, as PNG. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/error.h"
#include "vision_internal.h"

/*
 * Drawing is done here in C on an RGB copy (libpng writes it), so the runtime needs neither
 * OpenCV's imgcodecs (whose Debian package drags in GDAL) nor its drawing calls. Digits for
 * track ids come from a 3x5 pixel font.
 */

struct canvas {
    uint8_t *rgb;
    int w, h, scale;
};

static void put(struct canvas *c, int x, int y, const uint8_t col[3])
{
    if (x >= 0 && y >= 0 && x < c->w && y < c->h) {
        memcpy(&c->rgb[((size_t)y * (size_t)c->w + (size_t)x) * 3], col, 3);
    }
}

/* A line in processing coordinates, drawn two pixels wide at the canvas scale. */
static void line(struct canvas *c, float x0, float y0, float x1, float y1, const uint8_t col[3])
{
    float s = (float)c->scale;
    x0 *= s;
    y0 *= s;
    x1 *= s;
    y1 *= s;
    float dx = x1 - x0, dy = y1 - y0;
    int steps = (int)(fabsf(dx) > fabsf(dy) ? fabsf(dx) : fabsf(dy)) + 1;
    for (int i = 0; i <= steps; i++) {
        float t = (float)i / (float)steps;
        int x = (int)lrintf(x0 + dx * t), y = (int)lrintf(y0 + dy * t);
        put(c, x, y, col);
        put(c, x + 1, y, col);
        put(c, x, y + 1, col);
    }
}

static void rect(struct canvas *c, float x, float y, float w, float h, const uint8_t col[3])
{
    line(c, x, y, x + w, y, col);
    line(c, x + w, y, x + w, y + h, col);
    line(c, x + w, y + h, x, y + h, col);
    line(c, x, y + h, x, y, col);
}

static const uint16_t digits[10] = {
        /* 3x5 glyphs, row-major, top row in the high bits */
        075557, 026227, 071747, 071717, 055711, 074717, 074757, 071111, 075757, 075717,
};

static void text_number(struct canvas *c, float x, float y, uint32_t n, const uint8_t col[3])
{
    char buf[12];
    int len = snprintf(buf, sizeof(buf), "%u", n);
    int px = (int)(x * (float)c->scale), py = (int)(y * (float)c->scale);
    int dot = c->scale > 1 ? 2 : 1;
    for (int i = 0; i < len; i++) {
        uint16_t g = digits[buf[i] - '0'];
        for (int r = 0; r < 5; r++) {
            for (int k = 0; k < 3; k++) {
                if (g & (1u << ((4 - r) * 3 + (2 - k)))) {
                    for (int a = 0; a < dot; a++) {
                        for (int b = 0; b < dot; b++) {
                            put(c, px + (i * 4 + k) * dot + a, py + r * dot + b, col);
                        }
                    }
                }
            }
        }
    }
}

static int write_png(const char *path, const struct canvas *c)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -errno;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return SK_EVISION;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++) {
        png_write_row(png, &c->rgb[(size_t)y * (size_t)c->w * 3]);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : -errno;
}

void sk_vision_set_floor(struct sk_vision *v, const struct sk_camera_cfg *cam)
{
    v->has_floor = cam->has_floor;
    if (!cam->has_floor) {
        return;
    }
    v->floor_map = cam->floor_map;
    v->floor_back = cam->floor_back;
    v->floor_len = cam->floor_len;
    memcpy(v->floor_pts, cam->floor, cam->floor_len * sizeof(cam->floor[0]));
}

/* Floor (x, y) in metres to picture pixels; false beyond the horizon or far outside. */
static bool floor_px(const struct sk_vision *v, double x, double y, float *u, float *w)
{
    const double *m = v->floor_back.m;
    double d = m[6] * x + m[7] * y + m[8];
    double cu, cv;
    /* The picture's side of the horizon: the sign its centre maps with. */
    double fx, fy;
    if (!sk_homography_apply(&v->floor_map, v->p.width / 2.0, v->p.height / 2.0, &fx, &fy)) {
        return false;
    }
    double dc = m[6] * fx + m[7] * fy + m[8];
    if (d * dc <= 0 || !sk_homography_apply(&v->floor_back, x, y, &cu, &cv) ||
        fabs(cu) > 4.0 * v->p.width || fabs(cv) > 4.0 * v->p.height) {
        return false;
    }
    *u = (float)cu;
    *w = (float)cv;
    return true;
}

/* A line every metre over the floor the picture shows, and a cross on each marked point. */
static void
floor_grid(struct canvas *c, const struct sk_vision *v, const uint8_t col[3], const uint8_t mark[3])
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    const double px[4][2] = {{0, 0}, {v->p.width, 0}, {v->p.width, v->p.height}, {0, v->p.height}};
    for (int i = 0; i < 4; i++) {
        double x, y;
        if (!sk_homography_apply(&v->floor_map, px[i][0], px[i][1], &x, &y)) {
            return;
        }
        lo[0] = fmin(lo[0], x);
        lo[1] = fmin(lo[1], y);
        hi[0] = fmax(hi[0], x);
        hi[1] = fmax(hi[1], y);
    }
    if (hi[0] - lo[0] > 100 || hi[1] - lo[1] > 100) {
        return; /* a map that puts the horizon in view: diag camera says so */
    }
    for (int axis = 0; axis < 2; axis++) {
        for (int metre = (int)ceil(lo[axis]); metre <= (int)floor(hi[axis]); metre++) {
            double a = metre;
            float pu = 0, pv = 0;
            bool have = false;
            for (int k = 0; k <= 32; k++) {
                double b = lo[1 - axis] + (hi[1 - axis] - lo[1 - axis]) * k / 32.0;
                float u, w;
                bool ok = axis == 0 ? floor_px(v, a, b, &u, &w) : floor_px(v, b, a, &u, &w);
                if (ok && have) {
                    line(c, pu, pv, u, w, col);
                }
                pu = u;
                pv = w;
                have = ok;
            }
        }
    }
    for (size_t k = 0; k + 3 < v->floor_len; k += 4) {
        float u = (float)v->floor_pts[k], w = (float)v->floor_pts[k + 1];
        line(c, u - 3, w - 3, u + 3, w + 3, mark);
        line(c, u - 3, w + 3, u + 3, w - 3, mark);
    }
}

int sk_vision_write_png(const struct sk_vision *v, const char *path, int scale)
{
    if (!v || !path || scale < 1 || scale > 4) {
        return -EINVAL;
    }
    struct canvas c = {NULL, v->p.width * scale, v->p.height * scale, scale};
    c.rgb = malloc((size_t)c.w * (size_t)c.h * 3);
    if (!c.rgb) {
        return -ENOMEM;
    }
    /* The frame, with foreground pixels tinted so the mask is visible too. */
    for (int y = 0; y < c.h; y++) {
        for (int x = 0; x < c.w; x++) {
            size_t src = (size_t)(y / scale) * (size_t)v->p.width + (size_t)(x / scale);
            uint8_t g = v->image[src];
            uint8_t *px = &c.rgb[((size_t)y * (size_t)c.w + (size_t)x) * 3];
            px[0] = g;
            px[1] = g;
            px[2] = v->mask[src] ? (uint8_t)(g / 2 + 128) : g;
        }
    }
    static const uint8_t green[3] = {40, 220, 40}, blue[3] = {60, 120, 255},
                         yellow[3] = {255, 220, 0}, red[3] = {255, 40, 40},
                         grey[3] = {160, 160, 160}, cyan[3] = {0, 200, 220},
                         magenta[3] = {230, 60, 230}, orange[3] = {255, 140, 0};
    if (v->has_floor) {
        floor_grid(&c, v, cyan, magenta);
    }
    for (size_t z = 0; z < v->n_zones; z++) {
        const struct sk_zone_cfg *zc = &v->zones[z];
        size_t n = zc->polygon_len / 2;
        for (size_t i = 0, j = n - 1; i < n; j = i++) {
            line(&c, (float)zc->polygon[2 * j], (float)zc->polygon[2 * j + 1],
                 (float)zc->polygon[2 * i], (float)zc->polygon[2 * i + 1], green);
        }
        if (zc->reach_len == 4) { /* the shelf's front edge, over the zone's side */
            line(&c, (float)zc->reach[0], (float)zc->reach[1], (float)zc->reach[2],
                 (float)zc->reach[3], orange);
        }
    }
    for (size_t l = 0; l < v->n_lines; l++) {
        const double *p = v->lines[l].points;
        line(&c, (float)p[0], (float)p[1], (float)p[2], (float)p[3], blue);
        /* An arrow from the middle towards the inside. */
        float dx = (float)(p[2] - p[0]), dy = (float)(p[3] - p[1]);
        float len = sqrtf(dx * dx + dy * dy);
        float sgn = v->lines[l].inside == 0 ? 1.0f : -1.0f; /* left of p1->p2: (dy, -dx) */
        float nx = sgn * dy / len * 12.0f, ny = -sgn * dx / len * 12.0f;
        float mx = (float)(p[0] + p[2]) / 2, my = (float)(p[1] + p[3]) / 2;
        line(&c, mx, my, mx + nx, my + ny, blue);
        line(&c, mx + nx, my + ny, mx + nx * 0.6f + ny * 0.3f, my + ny * 0.6f - nx * 0.3f, blue);
        line(&c, mx + nx, my + ny, mx + nx * 0.6f - ny * 0.3f, my + ny * 0.6f + nx * 0.3f, blue);
    }
    for (size_t b = 0; b < v->n_blobs; b++) {
        const struct sk_vision_blob *bl = &v->blobs[b];
        rect(&c, (float)bl->x, (float)bl->y, (float)bl->w, (float)bl->h, yellow);
    }
    size_t nt;
    const struct sk_vision_track *tr = sk_vision_tracks(v, &nt);
    for (size_t i = 0; i < nt; i++) {
        const uint8_t *col = tr[i].confirmed ? red : grey;
        rect(&c, tr[i].x - 2, tr[i].y - 2, 4, 4, col);
        line(&c, tr[i].x, tr[i].y, tr[i].x + tr[i].vx * 0.3f, tr[i].y + tr[i].vy * 0.3f, col);
        if (tr[i].confirmed) {
            text_number(&c, tr[i].x + 4, tr[i].y - 9, tr[i].id, red);
        }
    }
    int r = write_png(path, &c);
    free(c.rgb);
    return r;
}
