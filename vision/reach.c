/* SPDX-License-Identifier: MIT */
/* Reach: which tracked shopper's arm crosses into a shelf's reach band, and for how long. */
#include "reach.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * A shelf's reach band is the strip of its zone along the shelf's front edge
 * (zones.[].reach), vision.reach_band_px deep: shoppers stand further back, so only hands and
 * arms enter it. From above, the shopper who takes or puts something is the one whose
 * silhouette extends into the band; the one standing beside is not.
 *
 * Each frame, every foreground pixel of a band belongs to the nearest confirmed track in that
 * zone, measured along the edge (an arm goes out in front of its shoulders), if one is within
 * vision.reach_width_px; else to nobody: motion no track explains (a child the tracker does
 * not follow, say). A track (or nobody) with at least vision.reach_min_px band pixels in two
 * frames running is reaching, until two frames running without; then the reach is reported
 * with its start, its end, how deep it went (1: to the edge) and where the arm crossed the
 * edge (the point of the edge level with the middle of its band pixels, at its deepest frame:
 * fusion asks whether a neighbour's arm could have been there). A track that ends, leaves
 * the zone or hands its slot on ends its reaches first.
 *
 * The cleaned mask (opened with a 3 x 3 kernel at 320 x 240) loses a thin arm: a slight
 * shopper's sleeve, or its shadow, is two pixels wide. So the band is also read in the raw
 * foreground, before cleaning (vision_reach_sample): a raw pixel counts too when its column
 * across the band (one pixel along the edge) is foreground for at least half the band's
 * depth. An arm crosses the whole band; sensor noise does not line up across it.
 *
 * Band pixels are given out by arm, not one by one: each connected piece of the band's
 * foreground is an arm (or a body's edge), and its direction across the band (how far along
 * the edge it moves per pixel of depth, fitted over its pixels) is traced back to each
 * shopper's own depth. The piece goes to the shopper it points at, nearest along the edge
 * within vision.reach_width_px: an arm reaching across in front of a neighbour, for an item
 * on the neighbour's side, is traced to the shoulders it comes from. Straight ahead, that is
 * the shopper nearest along the edge, as it always was. Sole and shared are judged the same
 * way: another shopper within an arm's width of the arm traced back to its depth (widened by
 * SLOPE_TOL per pixel traced: a ten-pixel band, and the arm's shadow beside it, give the
 * direction only roughly).
 *
 * Shoppers standing shoulder to shoulder merge into one blob, and the tracker may keep only
 * one of them: the other's track ends where it stood. It stays there as a ghost, for
 * GHOST_US or until a new track appears within half vision.reach_width_px of it, and band
 * pixels nearer to it than to any live track are its reach (reported under the ended track's
 * id: fusion knows whose shopper that was).
 *
 * Cost: the bands' pixels only (a few hundred per shelf at 320 x 240), computed once.
 */

#define ON_FRAMES  2
#define OFF_FRAMES 2
#define GHOSTS_MAX 8    /* per band */
#define SLOPE_MAX  4.0f /* along the edge per pixel of depth: an arm at most ~76 degrees off */
#define SLOPE_TOL  0.5f /* the fitted direction's uncertainty (an arm's shadow leans it) */
#define GHOST_US   20000000LL /* a track that ended in a zone stands there at most this long */

struct band_px {
    uint32_t idx; /* into the processing-size image */
    float u;      /* along the edge, from its first point */
    float d;      /* from the edge into the zone */
    uint32_t col; /* the column across the band it lies in: (int)u */
};

struct episode {
    bool on;
    uint8_t hits, gaps;
    int64_t first_us, start_us, last_us;
    float peak;
    float x, y;
    bool shared; /* another shopper stood within width_px of the arm at one of its frames */
};

/* A track that ended in the zone: where it stood, along the edge. */
struct ghost {
    uint32_t id; /* 0: free */
    float u, x, y;
    int64_t lost_us;
    struct episode ep;
};

struct band {
    size_t zone;        /* index in the zones given */
    double ex, ey, len; /* the edge's unit direction and length */
    double x1, y1;
    struct band_px *px;
    size_t n_px;
    double side;          /* +1 or -1: into the zone from the edge */
    int bx0, by0, bw, bh; /* the band's bounding box, in the image */
    int32_t *map;         /* per bounding-box pixel: its band pixel, or -1 */
    int32_t *lab;         /* per band pixel, per frame: its piece, or -1 background */
    uint32_t *stack;      /* per band pixel: the piece-finding stack */
    uint8_t *raw;         /* per band pixel: foreground before cleaning (vision_reach_sample) */
    uint16_t *col_raw;    /* per column: raw foreground pixels */
    size_t n_cols;
    struct episode nobody;
    struct ghost ghosts[GHOSTS_MAX];
};

struct slot_state {
    uint32_t id;
    uint64_t zones; /* the zones it was in at the last frame */
    float x, y;
    struct episode ep[SK_REACH_MAX_ZONES];
};

struct vision_reach {
    struct vision_reach_params p;
    int width; /* of the processing-size image */
    struct band bands[SK_REACH_MAX_ZONES];
    size_t n_bands;
    struct slot_state slots[SK_TRACKER_MAX];
};

static int make_band(struct band *b,
                     const struct sk_zone_cfg *z,
                     size_t zone,
                     int band_px,
                     int width,
                     int height)
{
    double dx = z->reach[2] - z->reach[0], dy = z->reach[3] - z->reach[1];
    double len = sqrt(dx * dx + dy * dy);
    if (len < 1) {
        return -EINVAL;
    }
    b->zone = zone;
    b->x1 = z->reach[0];
    b->y1 = z->reach[1];
    b->ex = dx / len;
    b->ey = dy / len;
    b->len = len;
    /* Into the zone: the side of the edge its centroid lies on. */
    size_t n = z->polygon_len / 2;
    double cx = 0, cy = 0;
    for (size_t k = 0; k < n; k++) {
        cx += z->polygon[2 * k] / (double)n;
        cy += z->polygon[2 * k + 1] / (double)n;
    }
    double side = -b->ey * (cx - b->x1) + b->ex * (cy - b->y1) >= 0 ? 1 : -1;
    b->side = side;
    double x0 = 1e9, y0 = 1e9, xm = -1e9, ym = -1e9;
    for (size_t k = 0; k < n; k++) {
        x0 = fmin(x0, z->polygon[2 * k]);
        xm = fmax(xm, z->polygon[2 * k]);
        y0 = fmin(y0, z->polygon[2 * k + 1]);
        ym = fmax(ym, z->polygon[2 * k + 1]);
    }
    int ix0 = x0 < 0 ? 0 : (int)x0, iy0 = y0 < 0 ? 0 : (int)y0;
    int ix1 = xm >= width ? width - 1 : (int)xm, iy1 = ym >= height ? height - 1 : (int)ym;
    for (int pass = 0; pass < 2; pass++) {
        size_t count = 0;
        for (int y = iy0; y <= iy1; y++) {
            for (int x = ix0; x <= ix1; x++) {
                float fx = (float)x + 0.5f, fy = (float)y + 0.5f;
                double u = (fx - b->x1) * b->ex + (fy - b->y1) * b->ey;
                double d = side * (-b->ey * (fx - b->x1) + b->ex * (fy - b->y1));
                if (u < 0 || u > len || d < 0 || d > band_px ||
                    !vision_point_in_polygon(z->polygon, n, fx, fy)) {
                    continue;
                }
                if (pass == 1) {
                    b->px[count] = (struct band_px){(uint32_t)(y * width + x), (float)u, (float)d,
                                                    (uint32_t)u};
                }
                count++;
            }
        }
        if (pass == 0) {
            if (count > SK_REACH_MAX_BAND) {
                return -E2BIG;
            }
            b->px = calloc(count ? count : 1, sizeof(*b->px));
            b->raw = calloc(count ? count : 1, 1);
            b->n_cols = (size_t)len + 1;
            b->col_raw = calloc(b->n_cols, sizeof(*b->col_raw));
            b->lab = calloc(count ? count : 1, sizeof(*b->lab));
            b->stack = calloc(count ? count : 1, sizeof(*b->stack));
            if (!b->px || !b->raw || !b->col_raw || !b->lab || !b->stack) {
                return -ENOMEM;
            }
        }
        b->n_px = count;
    }
    int mx0 = width, my0 = height, mx1 = -1, my1 = -1;
    for (size_t k = 0; k < b->n_px; k++) {
        int x = (int)(b->px[k].idx % (uint32_t)width), y = (int)(b->px[k].idx / (uint32_t)width);
        mx0 = x < mx0 ? x : mx0;
        my0 = y < my0 ? y : my0;
        mx1 = x > mx1 ? x : mx1;
        my1 = y > my1 ? y : my1;
    }
    b->bx0 = mx0;
    b->by0 = my0;
    b->bw = mx1 >= mx0 ? mx1 - mx0 + 1 : 1;
    b->bh = my1 >= my0 ? my1 - my0 + 1 : 1;
    b->map = malloc((size_t)b->bw * (size_t)b->bh * sizeof(*b->map));
    if (!b->map) {
        return -ENOMEM;
    }
    for (size_t k = 0; k < (size_t)b->bw * (size_t)b->bh; k++) {
        b->map[k] = -1;
    }
    for (size_t k = 0; k < b->n_px; k++) {
        int x = (int)(b->px[k].idx % (uint32_t)width), y = (int)(b->px[k].idx / (uint32_t)width);
        b->map[(y - b->by0) * b->bw + (x - b->bx0)] = (int32_t)k;
    }
    return 0;
}

int vision_reach_new(const struct vision_reach_params *p,
                     const struct sk_zone_cfg *zones,
                     size_t n_zones,
                     int width,
                     int height,
                     struct vision_reach **ret)
{
    if (!p || p->band_px < 1 || p->min_px < 1 || p->width_px < 1 || width < 1 || height < 1) {
        return -EINVAL;
    }
    *ret = NULL;
    size_t wanted = 0;
    for (size_t i = 0; i < n_zones; i++) {
        wanted += zones[i].reach_len == 4;
    }
    if (!wanted) {
        return 0;
    }
    if (wanted > SK_REACH_MAX_ZONES) {
        return -E2BIG;
    }
    struct vision_reach *r = calloc(1, sizeof(*r));
    if (!r) {
        return -ENOMEM;
    }
    r->p = *p;
    r->width = width;
    for (size_t i = 0; i < n_zones; i++) {
        if (zones[i].reach_len != 4) {
            continue;
        }
        int e = make_band(&r->bands[r->n_bands++], &zones[i], i, p->band_px, width, height);
        if (e < 0) {
            vision_reach_free(r);
            return e;
        }
    }
    *ret = r;
    return 0;
}

void vision_reach_free(struct vision_reach *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->n_bands; i++) {
        free(r->bands[i].px);
        free(r->bands[i].raw);
        free(r->bands[i].col_raw);
        free(r->bands[i].map);
        free(r->bands[i].lab);
        free(r->bands[i].stack);
    }
    free(r);
}

static void
end_episode(struct episode *e, uint32_t id, size_t zone, vision_reach_emit_fn emit, void *ctx)
{
    if (e->on) {
        struct vision_reach_ev ev = {.track_id = id,
                                     .zone = zone,
                                     .start_us = e->start_us,
                                     .end_us = e->last_us,
                                     .depth = e->peak,
                                     .x = e->x,
                                     .y = e->y,
                                     .sole = e->shared ? SK_REACH_SHARED : SK_REACH_SOLE};
        emit(ctx, &ev);
    }
    memset(e, 0, sizeof(*e));
}

/* One frame of one episode: count band pixels at depth deepest (0..1). */
static void step(struct episode *e,
                 int count,
                 float deepest,
                 float x,
                 float y,
                 bool shared,
                 int min_px,
                 int64_t t_us,
                 uint32_t id,
                 size_t zone,
                 vision_reach_emit_fn emit,
                 void *ctx)
{
    if (count >= min_px) {
        if (!e->on && e->hits++ == 0) {
            e->first_us = t_us;
        }
        if (!e->on && e->hits >= ON_FRAMES) {
            e->on = true;
            e->start_us = e->first_us;
        }
        e->gaps = 0;
        e->last_us = t_us;
        e->shared |= shared;
        if (deepest > e->peak) {
            e->peak = deepest;
            e->x = x;
            e->y = y;
        }
    } else if (e->on) {
        if (++e->gaps >= OFF_FRAMES) {
            end_episode(e, id, zone, emit, ctx);
        }
    } else {
        e->hits = 0;
        e->peak = 0;
        e->shared = false;
    }
}

static void add_ghost(struct band *bd,
                      uint32_t id,
                      float x,
                      float y,
                      int64_t t_us,
                      vision_reach_emit_fn emit,
                      void *ctx)
{
    struct ghost *g = &bd->ghosts[0];
    for (size_t k = 0; k < GHOSTS_MAX; k++) {
        if (!bd->ghosts[k].id) {
            g = &bd->ghosts[k];
            break;
        }
        if (bd->ghosts[k].lost_us < g->lost_us) {
            g = &bd->ghosts[k]; /* full: the oldest makes room */
        }
    }
    if (g->id) {
        end_episode(&g->ep, g->id, bd->zone, emit, ctx);
    }
    memset(g, 0, sizeof(*g));
    g->id = id;
    g->x = x;
    g->y = y;
    g->u = (float)((x - bd->x1) * bd->ex + (y - bd->y1) * bd->ey);
    g->lost_us = t_us;
}

/* How far (x, y) lies from the band's edge, into the zone. */
static float depth_at(const struct band *bd, float x, float y)
{
    return (float)(bd->side * (-bd->ey * (x - bd->x1) + bd->ex * (y - bd->y1)));
}

/*
 * Whether someone standing at (u, d) could have made the arm: within w of where it crossed
 * the edge (au), unless the arm, traced back to that one's depth (from its piece: mean um at
 * depth dm, slope along the edge per pixel of depth), passes clearly away from it (beyond w
 * by SLOPE_TOL per pixel traced); or, wherever it crossed, traced back clearly to it (within w
 * by as much).
 */
static bool within_arm(float u, float d, float au, float um, float dm, float slope, float w)
{
    float traced = fabsf(u - (um + slope * (d - dm))), doubt = SLOPE_TOL * fabsf(d - dm);
    return (fabsf(u - au) <= w && traced <= w + doubt) || traced + doubt <= w;
}

/* Where an arm crossed the edge: the point of the edge level with its band pixels' middle.
 * Returns that middle, along the edge. */
static float arm_at(const struct band *bd, int count, float sum_u, float *ret_x, float *ret_y)
{
    double u = count > 0 ? sum_u / (double)count : 0;
    *ret_x = (float)(bd->x1 + bd->ex * u);
    *ret_y = (float)(bd->y1 + bd->ey * u);
    return (float)u;
}

void vision_reach_sample(struct vision_reach *r, const uint8_t *raw)
{
    for (size_t b = 0; r && b < r->n_bands; b++) {
        struct band *bd = &r->bands[b];
        memset(bd->col_raw, 0, bd->n_cols * sizeof(*bd->col_raw));
        for (size_t k = 0; k < bd->n_px; k++) {
            bd->raw[k] = raw[bd->px[k].idx] != 0;
            if (bd->raw[k] && bd->px[k].col < bd->n_cols &&
                bd->col_raw[bd->px[k].col] < UINT16_MAX) {
                bd->col_raw[bd->px[k].col]++;
            }
        }
    }
}

void vision_reach_frame(struct vision_reach *r,
                        const uint8_t *mask,
                        const struct sk_trk *slots,
                        size_t n_slots,
                        const uint64_t *in_zone,
                        int64_t t_us,
                        vision_reach_emit_fn emit,
                        void *ctx)
{
    if (!r) {
        return;
    }
    n_slots = n_slots < SK_TRACKER_MAX ? n_slots : SK_TRACKER_MAX;
    /* A slot that changed hands or stopped being a confirmed track ends its reaches; a track
     * that ended inside a zone stays there as a ghost. */
    for (size_t s = 0; s < n_slots; s++) {
        struct slot_state *st = &r->slots[s];
        bool live = slots[s].state == SK_TRK_CONFIRMED;
        if (st->id && (!live || st->id != slots[s].id)) {
            for (size_t b = 0; b < r->n_bands; b++) {
                end_episode(&st->ep[b], st->id, r->bands[b].zone, emit, ctx);
                if (st->zones >> r->bands[b].zone & 1) {
                    add_ghost(&r->bands[b], st->id, st->x, st->y, t_us, emit, ctx);
                }
            }
            st->id = 0;
            st->zones = 0;
        }
        if (live && (st->id != slots[s].id || slots[s].matched)) {
            /* where it was last seen: a track coasting unseen drifts on its velocity, out of
             * the zone it stands in, before it is given up */
            st->zones = in_zone[s];
            st->x = slots[s].x;
            st->y = slots[s].y;
        }
        if (live) {
            st->id = slots[s].id;
        }
    }
    for (size_t b = 0; b < r->n_bands; b++) {
        struct band *bd = &r->bands[b];
        int count[SK_TRACKER_MAX] = {0}, nobody = 0;
        float dmin[SK_TRACKER_MAX], nobody_d = 1e9f;
        /* where along the edge each one's band pixels lie, summed: the arm's place */
        float su[SK_TRACKER_MAX] = {0}, gsu[GHOSTS_MAX] = {0}, nobody_su = 0;
        float tu[SK_TRACKER_MAX] = {0};
        size_t in[SK_TRACKER_MAX] = {0}, n_in = 0;
        for (size_t s = 0; s < n_slots; s++) {
            dmin[s] = 1e9f;
            if (slots[s].state == SK_TRK_CONFIRMED && (in_zone[s] >> bd->zone & 1)) {
                tu[s] = (float)((slots[s].x - bd->x1) * bd->ex + (slots[s].y - bd->y1) * bd->ey);
                in[n_in++] = s;
            }
        }
        /* Ghosts go when old, or when a new track stands where they stood. */
        int gcount[GHOSTS_MAX] = {0};
        float gdmin[GHOSTS_MAX];
        for (size_t g = 0; g < GHOSTS_MAX; g++) {
            struct ghost *gh = &bd->ghosts[g];
            gdmin[g] = 1e9f;
            bool taken = false;
            for (size_t i = 0; gh->id && i < n_in && !taken; i++) {
                taken = fabsf(tu[in[i]] - gh->u) < (float)r->p.width_px / 2 &&
                        slots[in[i]].id != gh->id;
            }
            if (gh->id && (taken || t_us - gh->lost_us > GHOST_US)) {
                end_episode(&gh->ep, gh->id, bd->zone, emit, ctx);
                gh->id = 0;
            }
        }
        /* The band's foreground: the cleaned mask, and a raw pixel in a column foreground
         * across half the band (a thin arm). */
        unsigned run = (unsigned)(r->p.band_px + 1) / 2;
        for (size_t k = 0; k < bd->n_px; k++) {
            const struct band_px *px = &bd->px[k];
            bool arm = bd->raw[k] && px->col < bd->n_cols && bd->col_raw[px->col] >= run;
            bd->lab[k] = mask[px->idx] || arm ? -2 : -1;
        }
        /* Each piece (8-connected) goes to the one it points at (see the top). */
        float pu[SK_TRACKER_MAX] = {0}, pd[SK_TRACKER_MAX] = {0}, pslope[SK_TRACKER_MAX] = {0};
        int pn[SK_TRACKER_MAX] = {0}, gpn[GHOSTS_MAX] = {0};
        float gpu[GHOSTS_MAX] = {0}, gpd[GHOSTS_MAX] = {0}, gpslope[GHOSTS_MAX] = {0};
        float td[SK_TRACKER_MAX] = {0}, gd[GHOSTS_MAX] = {0};
        for (size_t i = 0; i < n_in; i++) {
            td[in[i]] = depth_at(bd, slots[in[i]].x, slots[in[i]].y);
        }
        for (size_t g = 0; g < GHOSTS_MAX; g++) {
            gd[g] = bd->ghosts[g].id ? depth_at(bd, bd->ghosts[g].x, bd->ghosts[g].y) : 0;
        }
        for (size_t k0 = 0; k0 < bd->n_px; k0++) {
            if (bd->lab[k0] != -2) {
                continue;
            }
            /* gather the piece */
            size_t top = 0, n = 0;
            double sum_u = 0, sum_d = 0, sum_ud = 0, sum_dd = 0;
            float dlo = 1e9f;
            bd->lab[k0] = (int32_t)k0;
            bd->stack[top++] = (uint32_t)k0;
            while (top) {
                uint32_t j = bd->stack[--top];
                const struct band_px *px = &bd->px[j];
                n++;
                sum_u += px->u;
                sum_d += px->d;
                sum_ud += (double)px->u * px->d;
                sum_dd += (double)px->d * px->d;
                dlo = px->d < dlo ? px->d : dlo;
                int x = (int)(px->idx % (uint32_t)r->width) - bd->bx0;
                int y = (int)(px->idx / (uint32_t)r->width) - bd->by0;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= bd->bw || ny >= bd->bh) {
                            continue;
                        }
                        int32_t m = bd->map[ny * bd->bw + nx];
                        if (m >= 0 && bd->lab[m] == -2) {
                            bd->lab[m] = (int32_t)k0;
                            bd->stack[top++] = (uint32_t)m;
                        }
                    }
                }
            }
            /* its direction: along the edge per pixel of depth, fitted over its pixels */
            double um = sum_u / (double)n, dm = sum_d / (double)n;
            double var = sum_dd / (double)n - dm * dm, cov = sum_ud / (double)n - um * dm;
            float slope = var > 1.0 ? (float)(cov / var) : 0;
            slope = slope > SLOPE_MAX ? SLOPE_MAX : slope < -SLOPE_MAX ? -SLOPE_MAX : slope;
            size_t best = SIZE_MAX, ghost = SIZE_MAX;
            float best_d = (float)r->p.width_px;
            for (size_t i = 0; i < n_in; i++) {
                float du = fabsf((float)um + slope * (td[in[i]] - (float)dm) - tu[in[i]]);
                if (du <= best_d) {
                    best_d = du;
                    best = in[i];
                }
            }
            for (size_t g = 0; g < GHOSTS_MAX; g++) {
                float du = fabsf((float)um + slope * (gd[g] - (float)dm) - bd->ghosts[g].u);
                if (bd->ghosts[g].id && du < best_d) {
                    best_d = du;
                    ghost = g;
                }
            }
            if (ghost != SIZE_MAX) {
                gcount[ghost] += (int)n;
                gsu[ghost] += (float)sum_u;
                gdmin[ghost] = dlo < gdmin[ghost] ? dlo : gdmin[ghost];
                if ((int)n > gpn[ghost]) {
                    gpn[ghost] = (int)n;
                    gpu[ghost] = (float)um;
                    gpd[ghost] = (float)dm;
                    gpslope[ghost] = slope;
                }
            } else if (best == SIZE_MAX) {
                nobody += (int)n;
                nobody_su += (float)sum_u;
                nobody_d = dlo < nobody_d ? dlo : nobody_d;
            } else {
                count[best] += (int)n;
                su[best] += (float)sum_u;
                dmin[best] = dlo < dmin[best] ? dlo : dmin[best];
                if ((int)n > pn[best]) {
                    pn[best] = (int)n;
                    pu[best] = (float)um;
                    pd[best] = (float)dm;
                    pslope[best] = slope;
                }
            }
        }
        float depth_of = (float)r->p.band_px;
        float w = (float)r->p.width_px;
        for (size_t s = 0; s < n_slots; s++) {
            if (!r->slots[s].id) {
                continue;
            }
            bool here = in_zone[s] >> bd->zone & 1;
            if (!here) {
                end_episode(&r->slots[s].ep[b], r->slots[s].id, bd->zone, emit, ctx);
                continue;
            }
            float depth = count[s] ? 1.0f - dmin[s] / depth_of : 0;
            float ax, ay;
            float au = arm_at(bd, count[s], su[s], &ax, &ay);
            bool shared = false;
            for (size_t i = 0; count[s] && i < n_in; i++) {
                shared |= in[i] != s &&
                          within_arm(tu[in[i]], td[in[i]], au, pu[s], pd[s], pslope[s], w);
            }
            for (size_t g = 0; count[s] && g < GHOSTS_MAX; g++) {
                shared |= bd->ghosts[g].id && bd->ghosts[g].id != r->slots[s].id &&
                          within_arm(bd->ghosts[g].u, gd[g], au, pu[s], pd[s], pslope[s], w);
            }
            step(&r->slots[s].ep[b], count[s], depth, ax, ay, shared, r->p.min_px, t_us,
                 r->slots[s].id, bd->zone, emit, ctx);
        }
        for (size_t g = 0; g < GHOSTS_MAX; g++) {
            struct ghost *gh = &bd->ghosts[g];
            if (gh->id) {
                float ax, ay;
                float au = arm_at(bd, gcount[g], gsu[g], &ax, &ay);
                bool shared = false;
                for (size_t i = 0; gcount[g] && i < n_in; i++) {
                    shared |= slots[in[i]].id != gh->id &&
                              within_arm(tu[in[i]], td[in[i]], au, gpu[g], gpd[g], gpslope[g], w);
                }
                for (size_t o = 0; gcount[g] && o < GHOSTS_MAX; o++) {
                    shared |= o != g && bd->ghosts[o].id &&
                              within_arm(bd->ghosts[o].u, gd[o], au, gpu[g], gpd[g], gpslope[g], w);
                }
                step(&gh->ep, gcount[g], gcount[g] ? 1.0f - gdmin[g] / depth_of : 0, ax, ay, shared,
                     r->p.min_px, t_us, gh->id, bd->zone, emit, ctx);
            }
        }
        float ax, ay;
        (void)arm_at(bd, nobody, nobody_su, &ax, &ay);
        step(&bd->nobody, nobody, nobody ? 1.0f - nobody_d / depth_of : 0, ax, ay, true,
             r->p.min_px, t_us, 0, bd->zone, emit, ctx);
    }
}

void vision_reach_flush(struct vision_reach *r, vision_reach_emit_fn emit, void *ctx)
{
    if (!r) {
        return;
    }
    for (size_t b = 0; b < r->n_bands; b++) {
        for (size_t s = 0; s < SK_TRACKER_MAX; s++) {
            if (r->slots[s].id) {
                end_episode(&r->slots[s].ep[b], r->slots[s].id, r->bands[b].zone, emit, ctx);
            }
        }
        end_episode(&r->bands[b].nobody, 0, r->bands[b].zone, emit, ctx);
        for (size_t g = 0; g < GHOSTS_MAX; g++) {
            struct ghost *gh = &r->bands[b].ghosts[g];
            if (gh->id) {
                end_episode(&gh->ep, gh->id, r->bands[b].zone, emit, ctx);
                gh->id = 0;
            }
        }
    }
    memset(r->slots, 0, sizeof(r->slots));
}
