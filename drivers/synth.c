/* SPDX-License-Identifier: MIT */
/* The synthetic overhead scene: scripted shoppers rendered with noise, shadows and drift. */
#include "storekeeper/synth.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "storekeeper/buf.h"
#include "storekeeper/error.h"
#include "storekeeper/rand.h"

/*
 * DESIGN
 * Rendering is the hot path of every synthetic test and of the simulator, so it does little
 * per pixel: the floor texture (tiles, grout, a soft vignette) is computed once per render
 * size, the sensor noise is a table of Gaussian samples read at a per-frame offset, and each
 * shopper only touches its bounding box. Light is one gain per frame (drift times steps).
 *
 * Shoppers are seen from straight above: an ellipse for the shoulders, wide across the
 * walking direction, and a round head. Their shadow is the same ellipse shifted and
 * darkening the floor only (it lies under the shopper). What real footage adds, each a
 * scene option (draw_shopper): striped clothing whose light stripes come close to the floor,
 * arms swinging at the sides, and perspective: away from the image centre a camera sees
 * the body from the side too, so legs and torso lean outwards from under the shoulders.
 * Limbs are drawn by draw_limb, which any other pose (a reaching arm) can use; a shopper who
 * takes or puts something reaches out with an arm and its shadow (draw_reaches).
 */

#define NOISE_TABLE_EXTRA 8192
#define MAX_LIGHT_STEPS   64
#define MAX_SCENE_FILE    (1 << 20)

struct waypoint {
    double t;
    float x, y;
};

/* An arm reaching out towards a point (a shelf, another shopper) for a while. */
struct reach {
    double t, until;
    float x, y;
};

struct shopper {
    bool used;
    uint32_t id;
    struct sk_synth_look look;
    struct waypoint *wp;
    size_t n_wp;
    struct reach *reaches; /* SK_SYNTH_MAX_REACHES, allocated with the first */
    size_t n_reaches;
};

struct light_step {
    double t;
    float gain;
};

struct fault_window {
    int kind; /* enum sk_synth_fault */
    double t, until;
};

struct door {
    struct sk_synth_door d;
    double open_t[SK_SYNTH_MAX_OPENINGS], close_t[SK_SYNTH_MAX_OPENINGS];
    size_t n_open;
};

struct sk_synth {
    pthread_mutex_t lock;
    struct sk_synth_params p;
    struct shopper shoppers[SK_SYNTH_MAX_SHOPPERS];
    uint32_t next_id;
    struct light_step steps[MAX_LIGHT_STEPS];
    size_t n_steps;
    struct fault_window faults[SK_SYNTH_MAX_FAULTS];
    size_t n_faults;
    struct door doors[SK_SYNTH_MAX_DOORS];
    size_t n_doors;
    double last_t;
    /* Per render size caches. */
    int cache_w, cache_h;
    uint8_t *floor;
    int8_t *noise;
    size_t noise_len;
};

void sk_synth_params_default(struct sk_synth_params *p, int width, int height)
{
    memset(p, 0, sizeof(*p));
    p->width = width;
    p->height = height;
    p->floor_luma = 150;
    p->noise_sigma = 3.0f;
    p->drift_amplitude = 0.0f;
    p->drift_period_s = 120.0f;
    p->shadows = false;
    p->shadow_dx = 6.0f;
    p->shadow_dy = 4.0f;
    p->shadow_strength = 0.35f;
    p->seed = 1;
}

static bool params_valid(const struct sk_synth_params *p)
{
    return p->width >= 16 && p->height >= 16 && p->width <= 4096 && p->height <= 4096 &&
           p->floor_luma >= 0 && p->floor_luma <= 255 && p->noise_sigma >= 0 &&
           p->noise_sigma <= 64 && p->drift_amplitude >= 0 && p->drift_amplitude <= 0.9f &&
           p->drift_period_s > 0 && p->shadow_strength >= 0 && p->shadow_strength <= 1 &&
           p->texture >= 0 && p->texture <= 120 && p->perspective >= 0 && p->perspective <= 2;
}

/* Positions the renderer can handle: shoppers may walk off the picture, but not so far that
 * pixel arithmetic leaves int (a waypoint at x = 3e11 did, found by fuzz_scene). */
static bool waypoint_in_range(const struct sk_synth_params *p, float x, float y)
{
    return isfinite(x) && isfinite(y) && fabsf(x) <= SK_SYNTH_MAX_OFFSCREEN * (float)p->width &&
           fabsf(y) <= SK_SYNTH_MAX_OFFSCREEN * (float)p->height;
}

int sk_synth_new(const struct sk_synth_params *params, struct sk_synth **ret_scene)
{
    if (!params || !ret_scene || !params_valid(params)) {
        return -EINVAL;
    }
    struct sk_synth *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->p = *params;
    s->next_id = 1;
    s->last_t = -1;
    *ret_scene = s;
    return 0;
}

void sk_synth_free(struct sk_synth *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        free(s->shoppers[i].wp);
        free(s->shoppers[i].reaches);
    }
    free(s->floor);
    free(s->noise);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static struct shopper *find(struct sk_synth *s, uint32_t id)
{
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        if (s->shoppers[i].used && s->shoppers[i].id == id) {
            return &s->shoppers[i];
        }
    }
    return NULL;
}

int sk_synth_add_shopper(struct sk_synth *s, const struct sk_synth_look *look, uint32_t *ret_id)
{
    if (!s || !look || !ret_id || look->radius < 2 || look->radius > 200 || look->luma < 0 ||
        look->luma > 255 || look->head_luma > 255) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = -ENOSPC;
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        struct shopper *sh = &s->shoppers[i];
        if (!sh->used) {
            sh->used = true;
            sh->id = s->next_id++;
            sh->look = *look;
            sh->n_wp = 0;
            sh->n_reaches = 0;
            *ret_id = sh->id;
            r = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* A shopper's list of max items of size bytes, allocated whole when first needed (most
 * shoppers have a few waypoints and no reach): arr, or a new zeroed one, or NULL. */
static void *list_of(void *arr, size_t max, size_t size)
{
    return arr ? arr : calloc(max, size);
}

int sk_synth_waypoint(struct sk_synth *s, uint32_t id, double t_s, float x, float y)
{
    if (!s || !isfinite(t_s) || !waypoint_in_range(&s->p, x, y)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    struct shopper *sh = find(s, id);
    if (!sh) {
        r = -ENOENT;
    } else if (sh->n_wp > 0 && t_s <= sh->wp[sh->n_wp - 1].t) {
        r = -EINVAL;
    } else if (sh->n_wp >= SK_SYNTH_MAX_WAYPOINTS) {
        r = -ENOSPC;
    } else if (!(sh->wp = list_of(sh->wp, SK_SYNTH_MAX_WAYPOINTS, sizeof(*sh->wp)))) {
        r = -ENOMEM;
    } else {
        sh->wp[sh->n_wp++] = (struct waypoint){t_s, x, y};
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int sk_synth_reach(struct sk_synth *s, uint32_t id, double t_s, double duration_s, float x, float y)
{
    if (!s || !isfinite(t_s) || !(duration_s > 0 && duration_s <= 600) ||
        !waypoint_in_range(&s->p, x, y)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    struct shopper *sh = find(s, id);
    if (!sh) {
        r = -ENOENT;
    } else if (sh->n_reaches >= SK_SYNTH_MAX_REACHES) {
        r = -ENOSPC;
    } else if (!(sh->reaches = list_of(sh->reaches, SK_SYNTH_MAX_REACHES, sizeof(*sh->reaches)))) {
        r = -ENOMEM;
    } else {
        sh->reaches[sh->n_reaches++] = (struct reach){t_s, t_s + duration_s, x, y};
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int sk_synth_add_fault(struct sk_synth *s, int kind, double t_s, double duration_s)
{
    if (!s || (kind != SK_SYNTH_BLACK && kind != SK_SYNTH_STALL) || !isfinite(t_s) ||
        !(duration_s > 0 && duration_s <= 86400)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    if (s->n_faults == SK_SYNTH_MAX_FAULTS) {
        r = -ENOSPC;
    } else {
        s->faults[s->n_faults++] = (struct fault_window){kind, t_s, t_s + duration_s};
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int sk_synth_add_door(struct sk_synth *s, const struct sk_synth_door *door, uint32_t *ret_id)
{
    if (!s || !door || !ret_id || !waypoint_in_range(&s->p, door->hinge_x, door->hinge_y) ||
        !(door->length >= 1 && door->length <= (float)(s->p.width + s->p.height)) ||
        !(door->width >= 0.5f && door->width <= door->length) || !isfinite(door->closed_deg) ||
        !isfinite(door->open_deg) || !(door->swing_s > 0 && door->swing_s <= 60) ||
        door->luma < 0 || door->luma > 255) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    if (s->n_doors == SK_SYNTH_MAX_DOORS) {
        r = -ENOSPC;
    } else {
        memset(&s->doors[s->n_doors], 0, sizeof(s->doors[0]));
        s->doors[s->n_doors].d = *door;
        *ret_id = (uint32_t)s->n_doors++;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int sk_synth_open_door(struct sk_synth *s, uint32_t id, double t_s, double duration_s)
{
    if (!s || !isfinite(t_s) || !(duration_s >= 0 && duration_s <= 86400)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    struct door *d = id < s->n_doors ? &s->doors[id] : NULL;
    if (!d) {
        r = -ENOENT;
    } else if (d->n_open == SK_SYNTH_MAX_OPENINGS) {
        r = -ENOSPC;
    } else if (d->n_open > 0 && t_s < d->close_t[d->n_open - 1] + d->d.swing_s) {
        r = -EINVAL;
    } else {
        d->open_t[d->n_open] = t_s;
        d->close_t[d->n_open++] = t_s + duration_s;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* How far the door is open at t: 0 closed .. 1 open. */
static float door_open_at(const struct door *d, double t)
{
    for (size_t i = 0; i < d->n_open; i++) {
        double a = d->open_t[i], b = d->close_t[i], sw = d->d.swing_s;
        if (t < a || t > b + sw) {
            continue;
        }
        double e = t < a + sw ? (t - a) / sw : t <= b ? 1.0 : 1.0 - (t - b) / sw;
        return (float)(e < 0 ? 0 : e > 1 ? 1 : e);
    }
    return 0;
}

/* Under s->lock. */
static int fault_kind(const struct sk_synth *s, double t_s)
{
    for (size_t i = 0; i < s->n_faults; i++) {
        if (t_s >= s->faults[i].t && t_s < s->faults[i].until) {
            return s->faults[i].kind;
        }
    }
    return 0;
}

int sk_synth_fault_at(struct sk_synth *s, double t_s)
{
    if (!s) {
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    int kind = fault_kind(s, t_s);
    pthread_mutex_unlock(&s->lock);
    return kind;
}

int sk_synth_remove(struct sk_synth *s, uint32_t id)
{
    if (!s) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    struct shopper *sh = find(s, id);
    if (sh) {
        sh->used = false;
        sh->n_wp = 0;
        sh->n_reaches = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return sh ? 0 : -ENOENT;
}

int sk_synth_set_light(struct sk_synth *s, double t_s, float gain)
{
    if (!s || !isfinite(t_s) || !(gain > 0.05f && gain < 4.0f)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = 0;
    if (s->n_steps >= MAX_LIGHT_STEPS) {
        r = -ENOSPC;
    } else if (s->n_steps > 0 && t_s <= s->steps[s->n_steps - 1].t) {
        r = -EINVAL;
    } else {
        s->steps[s->n_steps++] = (struct light_step){t_s, gain};
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

double sk_synth_time(struct sk_synth *s)
{
    pthread_mutex_lock(&s->lock);
    double t = s->last_t;
    pthread_mutex_unlock(&s->lock);
    return t;
}

double sk_synth_end_time(struct sk_synth *s)
{
    double end = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        const struct shopper *sh = &s->shoppers[i];
        if (sh->used && sh->n_wp > 0 && sh->wp[sh->n_wp - 1].t > end) {
            end = sh->wp[sh->n_wp - 1].t;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return end;
}

/* Position and heading of a shopper at t; false when it is not in the scene then. */
static bool shopper_at(const struct shopper *sh, double t, float *x, float *y, float *hx, float *hy)
{
    if (!sh->used || sh->n_wp == 0 || t < sh->wp[0].t || t > sh->wp[sh->n_wp - 1].t) {
        return false;
    }
    size_t i = 0;
    while (i + 1 < sh->n_wp && sh->wp[i + 1].t < t) {
        i++;
    }
    const struct waypoint *a = &sh->wp[i];
    const struct waypoint *b = i + 1 < sh->n_wp ? &sh->wp[i + 1] : a;
    double f = b->t > a->t ? (t - a->t) / (b->t - a->t) : 0;
    *x = (float)(a->x + (b->x - a->x) * f);
    *y = (float)(a->y + (b->y - a->y) * f);
    /* Heading: the segment's direction; a standing shopper keeps the previous one. */
    *hx = 0;
    *hy = 1;
    for (size_t k = i + 1; k-- > 0;) {
        const struct waypoint *p = &sh->wp[k];
        const struct waypoint *q = k + 1 < sh->n_wp ? &sh->wp[k + 1] : p;
        float dx = q->x - p->x, dy = q->y - p->y;
        float len = sqrtf(dx * dx + dy * dy);
        if (len > 0.01f) {
            *hx = dx / len;
            *hy = dy / len;
            break;
        }
    }
    return true;
}

int sk_synth_truth_at(struct sk_synth *s, double t_s, struct sk_synth_truth *ret, size_t max)
{
    if (!s || (!ret && max)) {
        return -EINVAL;
    }
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        float x, y, hx, hy;
        if (shopper_at(&s->shoppers[i], t_s, &x, &y, &hx, &hy)) {
            if ((size_t)n < max) {
                ret[n] = (struct sk_synth_truth){s->shoppers[i].id, x, y};
            }
            n++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static double uniform(uint32_t *st)
{
    return ((sk_xorshift32(st) >> 8) + 0.5) / 16777216.0;
}

static int prepare_caches(struct sk_synth *s, int w, int h)
{
    if (s->floor && s->cache_w == w && s->cache_h == h) {
        return 0;
    }
    free(s->floor);
    free(s->noise);
    s->noise_len = (size_t)w * (size_t)h + NOISE_TABLE_EXTRA;
    s->floor = malloc((size_t)w * (size_t)h);
    s->noise = malloc(s->noise_len);
    if (!s->floor || !s->noise) {
        free(s->floor);
        free(s->noise);
        s->floor = NULL;
        s->noise = NULL;
        return -ENOMEM;
    }
    s->cache_w = w;
    s->cache_h = h;
    uint32_t st = s->p.seed ? s->p.seed : 0x9e3779b9u;
    float sx = (float)s->p.width / (float)w, sy = (float)s->p.height / (float)h;
    float tile = 40.0f; /* scene pixels */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            float fx = (float)x * sx, fy = (float)y * sy;
            float v = (float)s->p.floor_luma;
            float cx = fx / (float)s->p.width - 0.5f, cy = fy / (float)s->p.height - 0.5f;
            v *= 1.0f - 0.35f * (cx * cx + cy * cy); /* the lamp is brightest in the middle */
            if (fmodf(fx, tile) < 1.5f || fmodf(fy, tile) < 1.5f) {
                v -= 18.0f; /* grout */
            }
            if (((int)(fx / tile) + (int)(fy / tile)) % 2) {
                v += 8.0f;
            }
            v += (float)(uniform(&st) * 6.0 - 3.0); /* fixed floor grain */
            s->floor[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    for (size_t i = 0; i < s->noise_len; i++) {
        double u1 = uniform(&st), u2 = uniform(&st);
        double g = sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2) * s->p.noise_sigma;
        s->noise[i] = (int8_t)(g < -127 ? -127 : g > 127 ? 127 : lrint(g));
    }
    return 0;
}

static float light_gain(const struct sk_synth *s, double t)
{
    double g = 1.0 + s->p.drift_amplitude * sin(2 * M_PI * t / s->p.drift_period_s);
    double step = 1.0;
    for (size_t i = 0; i < s->n_steps && s->steps[i].t <= t; i++) {
        step = s->steps[i].gain;
    }
    return (float)(g * step);
}

/* Inside test for an ellipse with semi-axes a (across heading) and b (along heading). */
static inline bool in_ellipse(float dx, float dy, float hx, float hy, float a, float b)
{
    float along = dx * hx + dy * hy;
    float across = -dx * hy + dy * hx;
    return (across * across) / (a * a) + (along * along) / (b * b) <= 1.0f;
}

struct draw_ctx {
    float *img;
    int w, h;
    float sx, sy; /* render pixels per scene pixel */
};

/* What an ellipse does to the pixels it covers: paints value, scales them by value (a shadow),
 * or paints stripes across the heading (period in scene pixels) of luma + contrast and
 * luma - contrast. */
enum {
    PAINT_VALUE = 0,
    PAINT_SCALE = 1,
    PAINT_STRIPES = 2
};

struct paint {
    int mode;
    float value; /* PAINT_VALUE, PAINT_SCALE; PAINT_STRIPES: the luma */
    float contrast, period;
};

/* Walks the pixels of the ellipse at (cx, cy) (heading (hx, hy), half-axes a across and b
 * along, scene pixels) within the image and applies p to each. */
static void fill_ellipse(struct draw_ctx *d,
                         float cx,
                         float cy,
                         float hx,
                         float hy,
                         float a,
                         float b,
                         const struct paint *p)
{
    float r = (a > b ? a : b) + 1;
    int x0 = (int)floorf((cx - r) * d->sx), x1 = (int)ceilf((cx + r) * d->sx);
    int y0 = (int)floorf((cy - r) * d->sy), y1 = (int)ceilf((cy + r) * d->sy);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= d->w ? d->w - 1 : x1;
    y1 = y1 >= d->h ? d->h - 1 : y1;
    for (int y = y0; y <= y1; y++) {
        float fy = ((float)y + 0.5f) / d->sy - cy;
        for (int x = x0; x <= x1; x++) {
            float fx = ((float)x + 0.5f) / d->sx - cx;
            if (!in_ellipse(fx, fy, hx, hy, a, b)) {
                continue;
            }
            float *px = &d->img[(size_t)y * (size_t)d->w + (size_t)x];
            if (p->mode == PAINT_STRIPES) {
                float along = fx * hx + fy * hy + 100.0f * p->period;
                bool light = ((int)(along / (0.5f * p->period))) % 2 == 0;
                float v = p->value + (light ? p->contrast : -p->contrast);
                *px = v < 0 ? 0 : v > 255 ? 255 : v;
            } else {
                *px = p->mode == PAINT_VALUE ? p->value : *px * p->value;
            }
        }
    }
}

/* An ellipse over its bounding box: mode 0 paints value, 1 scales. */
static void draw_ellipse(struct draw_ctx *d,
                         float cx,
                         float cy,
                         float hx,
                         float hy,
                         float a,
                         float b,
                         int mode,
                         float value)
{
    const struct paint p = {.mode = mode, .value = value};
    fill_ellipse(d, cx, cy, hx, hy, a, b, &p);
}

/* A limb from (x, y) along (dx, dy) (unit) for length, width across: an arm at the side, or
 * any other pose a scene wants to show (reaching into a shelf). */
static void draw_limb(struct draw_ctx *d,
                      float x,
                      float y,
                      float dx,
                      float dy,
                      float length,
                      float width,
                      float luma)
{
    draw_ellipse(d, x + dx * length * 0.5f, y + dy * length * 0.5f, dx, dy, width * 0.5f,
                 length * 0.5f, 0, luma);
}

/*
 * Reaching arms: a shopper reaching for a shelf (or handing something over) extends an arm
 * from its shoulders towards the point: out over the first REACH_RAMP of the reach, held,
 * back over the last. Seen from above it is a limb about a third of the shoulder radius
 * wide, in the clothing's brightness (a sleeve), with its shadow when shoppers cast one.
 * Only the one who reaches has one: a shopper standing beside does not.
 */
#define REACH_RAMP 0.3

/* How far the arm is out at t: 0..1. */
static float reach_extent(const struct reach *r, double t)
{
    if (t < r->t || t > r->until) {
        return 0;
    }
    double ramp = (r->until - r->t) * REACH_RAMP;
    double e = t - r->t < ramp       ? (t - r->t) / ramp
               : r->until - t < ramp ? (r->until - t) / ramp
                                     : 1;
    return (float)e;
}

/* The reaching arms of a shopper at (x, y), offset by (ox, oy): mode 0 paints the sleeve in
 * value, mode 1 scales the floor by it (the shadow). */
static void draw_reaches(struct draw_ctx *d,
                         const struct shopper *sh,
                         double t,
                         float x,
                         float y,
                         float ox,
                         float oy,
                         int mode,
                         float value)
{
    for (size_t k = 0; k < sh->n_reaches; k++) {
        const struct reach *r = &sh->reaches[k];
        float e = reach_extent(r, t);
        float dx = r->x - x, dy = r->y - y, len = sqrtf(dx * dx + dy * dy);
        if (e <= 0 || len < 0.5f) {
            continue;
        }
        float w = sh->look.radius * 0.35f, l = e * len;
        w = w < 2 ? 2 : w;
        /* draw_limb's shape, in either mode */
        draw_ellipse(d, x + ox + dx / len * l * 0.5f, y + oy + dy / len * l * 0.5f, dx / len,
                     dy / len, w * 0.5f, l * 0.5f, mode, value);
    }
}

/* A door's leaf: the rectangle from the hinge along its direction at t, painted in its luma. */
static void draw_door(struct draw_ctx *d, const struct door *dr, double t)
{
    const struct sk_synth_door *k = &dr->d;
    float e = door_open_at(dr, t);
    float deg = k->closed_deg + e * (k->open_deg - k->closed_deg);
    float ux = cosf(deg * (float)M_PI / 180.0f), uy = sinf(deg * (float)M_PI / 180.0f);
    float r = k->length + k->width;
    int x0 = (int)floorf((k->hinge_x - r) * d->sx), x1 = (int)ceilf((k->hinge_x + r) * d->sx);
    int y0 = (int)floorf((k->hinge_y - r) * d->sy), y1 = (int)ceilf((k->hinge_y + r) * d->sy);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= d->w ? d->w - 1 : x1;
    y1 = y1 >= d->h ? d->h - 1 : y1;
    for (int y = y0; y <= y1; y++) {
        float fy = ((float)y + 0.5f) / d->sy - k->hinge_y;
        for (int x = x0; x <= x1; x++) {
            float fx = ((float)x + 0.5f) / d->sx - k->hinge_x;
            float along = fx * ux + fy * uy, across = -fx * uy + fy * ux;
            if (along >= 0 && along <= k->length && fabsf(across) <= 0.5f * k->width) {
                d->img[(size_t)y * (size_t)d->w + (size_t)x] = (float)k->luma;
            }
        }
    }
}

/* One shopper, from the floor up: legs and torso leaning out (perspective), arms, the
 * shoulders (striped clothing), the head. */
static void draw_shopper(const struct sk_synth *s,
                         struct draw_ctx *d,
                         const struct shopper *sh,
                         float x,
                         float y,
                         float hx,
                         float hy,
                         double t)
{
    float a = sh->look.radius;
    float luma = (float)sh->look.luma;
    if (s->p.perspective > 0) {
        float cx = 0.5f * (float)s->p.width, cy = 0.5f * (float)s->p.height;
        float ox = (x - cx) / cx, oy = (y - cy) / cy;
        float off = sqrtf(ox * ox + oy * oy);
        if (off > 0.05f) {
            /* the lean grows with the distance from the centre: legs seen from the side */
            float lean = s->p.perspective * 2.0f * a * (off > 1.4f ? 1.4f : off) / 1.41f;
            float ux = ox / off, uy = oy / off;
            float legs = luma * 0.8f + 10.0f;
            draw_limb(d, x, y, ux, uy, lean + a * 0.5f, a * 0.9f, legs > 255 ? 255 : legs);
        }
    }
    if (s->p.arms) {
        /* walking arms swing along the heading, in opposite phases, about a step a second */
        float swing = a * 0.5f * sinf((float)(2.0 * M_PI * 0.9 * t) + (float)sh->id);
        for (int side = -1; side <= 1; side += 2) {
            float bx = x - hy * a * 0.95f * (float)side, by = y + hx * a * 0.95f * (float)side;
            float sw = swing * (float)side;
            draw_ellipse(d, bx + hx * sw, by + hy * sw, hx, hy, a * 0.22f, a * 0.45f, 0, luma);
        }
    }
    /* the torso: striped when the scene gives shoppers a texture */
    const struct paint torso = {.mode = s->p.texture > 0 ? PAINT_STRIPES : PAINT_VALUE,
                                .value = luma,
                                .contrast = s->p.texture,
                                .period = a * 0.6f};
    fill_ellipse(d, x, y, hx, hy, a, a * 0.6f, &torso);
    draw_reaches(d, sh, t, x, y, 0, 0, 0, luma);
    int head = sh->look.head_luma < 0 ? 40 : sh->look.head_luma;
    draw_ellipse(d, x, y, hx, hy, a * 0.45f, a * 0.5f, 0, (float)head);
}

int sk_synth_render(struct sk_synth *s,
                    double t_s,
                    uint64_t frame_no,
                    uint8_t *buf,
                    int width,
                    int height,
                    int stride)
{
    if (!s || !buf || width < 16 || height < 16 || width > 4096 || height > 4096 ||
        stride < width || !isfinite(t_s)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    int r = prepare_caches(s, width, height);
    float *img = r == 0 ? malloc((size_t)width * (size_t)height * sizeof(float)) : NULL;
    if (!img) {
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    s->last_t = t_s;
    /* Retire shoppers whose script ended a while ago, so a long simulation reuses slots. */
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        struct shopper *sh = &s->shoppers[i];
        if (sh->used && sh->n_wp > 0 && sh->wp[sh->n_wp - 1].t + 1.0 < t_s) {
            sh->used = false;
            sh->n_wp = 0;
            sh->n_reaches = 0;
        }
    }
    /* A blackout leaves the sensor's noise around black, like a covered lens. */
    float gain = fault_kind(s, t_s) == SK_SYNTH_BLACK ? 0.0f : light_gain(s, t_s);
    size_t npx = (size_t)width * (size_t)height;
    for (size_t i = 0; i < npx; i++) {
        img[i] = s->floor[i];
    }
    struct draw_ctx d = {img, width, height, (float)width / (float)s->p.width,
                         (float)height / (float)s->p.height};
    if (s->p.shadows) {
        for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
            float x, y, hx, hy;
            if (shopper_at(&s->shoppers[i], t_s, &x, &y, &hx, &hy)) {
                float a = s->shoppers[i].look.radius;
                draw_ellipse(&d, x + s->p.shadow_dx, y + s->p.shadow_dy, hx, hy, a * 1.1f, a * 0.8f,
                             1, 1.0f - s->p.shadow_strength);
                draw_reaches(&d, &s->shoppers[i], t_s, x, y, s->p.shadow_dx, s->p.shadow_dy, 1,
                             1.0f - s->p.shadow_strength);
            }
        }
    }
    for (size_t i = 0; i < s->n_doors; i++) {
        draw_door(&d, &s->doors[i], t_s); /* under the shoppers walking through */
    }
    for (size_t i = 0; i < SK_SYNTH_MAX_SHOPPERS; i++) {
        float x, y, hx, hy;
        const struct shopper *sh = &s->shoppers[i];
        if (shopper_at(sh, t_s, &x, &y, &hx, &hy)) {
            draw_shopper(s, &d, sh, x, y, hx, hy, t_s);
        }
    }
    size_t off = (size_t)((frame_no * 2654435761u) % NOISE_TABLE_EXTRA);
    for (int y = 0; y < height; y++) {
        uint8_t *row = buf + (size_t)y * (size_t)stride;
        const float *src = img + (size_t)y * (size_t)width;
        const int8_t *nz = s->noise + off + (size_t)y * (size_t)width;
        for (int x = 0; x < width; x++) {
            float v = src[x] * gain + (float)nz[x];
            row[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5f));
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(img);
    return 0;
}

/* ---- scene files ------------------------------------------------------------------------ */

/* One scene file being read: its settings, its name for messages and where the first problem
 * goes (err may be NULL). */
struct scene_file {
    config_t cf;
    const char *path;
    char *err;
    size_t err_size;
};

static int fail(struct scene_file *sf, const config_setting_t *st, const char *msg)
{
    if (sf->err && sf->err_size) {
        snprintf(sf->err, sf->err_size, "%s:%u: %s", sf->path,
                 st ? config_setting_source_line(st) : 0, msg);
    }
    return SK_ESCENARIO;
}

static bool get_number(const config_setting_t *g, const char *key, double *v)
{
    const config_setting_t *st = config_setting_get_member(g, key);
    if (!st) {
        return true; /* absent: keep the default */
    }
    int type = config_setting_type(st);
    if (type == CONFIG_TYPE_INT) {
        *v = config_setting_get_int(st);
    } else if (type == CONFIG_TYPE_FLOAT) {
        *v = config_setting_get_float(st);
    } else {
        return false;
    }
    return true;
}

static int load_scene_group(struct scene_file *sf, struct sk_synth_params *p)
{
    config_setting_t *g = config_lookup(&sf->cf, "scene");
    if (!g) {
        return 0;
    }
    if (!config_setting_is_group(g)) {
        return fail(sf, g, "scene: expected a group { ... }");
    }
    static const char *const known[] = {"floor_luma",     "noise",           "drift_amplitude",
                                        "drift_period_s", "shadows",         "shadow_dx",
                                        "shadow_dy",      "shadow_strength", "seed",
                                        "lights",         "width",           "height",
                                        "blackouts",      "stalls",          "texture",
                                        "arms",           "perspective",     NULL};
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        bool ok = false;
        for (size_t k = 0; known[k]; k++) {
            ok = ok || strcmp(config_setting_name(m), known[k]) == 0;
        }
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof(msg), "scene.%s: unknown key", config_setting_name(m));
            return fail(sf, m, msg);
        }
    }
    double wh[2] = {p->width, p->height};
    if (!get_number(g, "width", &wh[0]) || !get_number(g, "height", &wh[1]) || wh[0] < 16 ||
        wh[1] < 16 || wh[0] > 4096 || wh[1] > 4096) {
        return fail(sf, g, "scene.width, scene.height: 16 to 4096 expected");
    }
    p->width = (int)wh[0];
    p->height = (int)wh[1];
    double v[10] = {p->floor_luma, p->noise_sigma, p->drift_amplitude, p->drift_period_s,
                    p->shadow_dx,  p->shadow_dy,   p->shadow_strength, p->seed,
                    p->texture,    p->perspective};
    const char *names[10] = {"floor_luma", "noise",      "drift_amplitude", "drift_period_s",
                             "shadow_dx",  "shadow_dy",  "shadow_strength", "seed",
                             "texture",    "perspective"};
    const double lo[10] = {0, 0, 0, 0.1, -100, -100, 0, 0, 0, 0};
    const double hi[10] = {255, 64, 0.9, 86400, 100, 100, 1, 4294967295.0, 120, 2};
    for (int i = 0; i < 10; i++) {
        if (!get_number(g, names[i], &v[i]) || !(v[i] >= lo[i] && v[i] <= hi[i])) {
            char msg[128];
            snprintf(msg, sizeof(msg), "scene.%s: a number from %g to %g expected", names[i], lo[i],
                     hi[i]);
            return fail(sf, config_setting_get_member(g, names[i]), msg);
        }
    }
    p->floor_luma = (int)v[0];
    p->noise_sigma = (float)v[1];
    p->drift_amplitude = (float)v[2];
    p->drift_period_s = (float)v[3];
    p->shadow_dx = (float)v[4];
    p->shadow_dy = (float)v[5];
    p->shadow_strength = (float)v[6];
    p->seed = (uint32_t)v[7];
    p->texture = (float)v[8];
    p->perspective = (float)v[9];
    const config_setting_t *sh = config_setting_get_member(g, "shadows");
    if (sh) {
        if (config_setting_type(sh) != CONFIG_TYPE_BOOL) {
            return fail(sf, sh, "scene.shadows: true or false expected");
        }
        p->shadows = config_setting_get_bool(sh);
    }
    const config_setting_t *arms = config_setting_get_member(g, "arms");
    if (arms) {
        if (config_setting_type(arms) != CONFIG_TYPE_BOOL) {
            return fail(sf, arms, "scene.arms: true or false expected");
        }
        p->arms = config_setting_get_bool(arms);
    }
    return 0;
}

/* scene.blackouts and scene.stalls: [ t, seconds, ... ] pairs of camera faults. */
static int load_faults(struct scene_file *sf, struct sk_synth *s)
{
    static const struct {
        const char *key;
        int kind;
    } keys[] = {{"scene.blackouts", SK_SYNTH_BLACK}, {"scene.stalls", SK_SYNTH_STALL}};

    for (size_t k = 0; k < 2; k++) {
        config_setting_t *l = config_lookup(&sf->cf, keys[k].key);
        if (!l) {
            continue;
        }
        int n = config_setting_length(l);
        char msg[128];
        snprintf(msg, sizeof(msg), "%s: [ t, seconds, ... ] pairs expected (at most %d windows)",
                 keys[k].key, SK_SYNTH_MAX_FAULTS);
        if (!config_setting_is_array(l) || n % 2) {
            return fail(sf, l, msg);
        }
        for (int i = 0; i < n; i += 2) {
            double t = config_setting_get_float_elem(l, i);
            double d = config_setting_get_float_elem(l, i + 1);
            if (sk_synth_add_fault(s, keys[k].kind, t, d) < 0) {
                return fail(sf, l, msg);
            }
        }
    }
    return 0;
}

static int load_lights(struct scene_file *sf, struct sk_synth *s)
{
    config_setting_t *l = config_lookup(&sf->cf, "scene.lights");
    if (!l) {
        return 0;
    }
    int n = config_setting_length(l);
    if (!config_setting_is_array(l) || n % 2 || n / 2 > MAX_LIGHT_STEPS) {
        return fail(sf, l, "scene.lights: [ t, gain, ... ] pairs expected (at most 64)");
    }
    for (int i = 0; i < n; i += 2) {
        double t = config_setting_get_float_elem(l, i);
        double g = config_setting_get_float_elem(l, i + 1);
        if (sk_synth_set_light(s, t, (float)g) < 0) {
            return fail(sf, l, "scene.lights: times must increase and gains lie in 0.05..4");
        }
    }
    return 0;
}

static int load_shoppers(struct scene_file *sf, struct sk_synth *s)
{
    config_setting_t *list = config_lookup(&sf->cf, "shoppers");
    if (!list) {
        return 0;
    }
    if (!config_setting_is_list(list)) {
        return fail(sf, list, "shoppers: expected a list ( {...}, ... )");
    }
    int n = config_setting_length(list);
    if (n > SK_SYNTH_MAX_SHOPPERS) {
        return fail(sf, list, "shoppers: at most 64");
    }
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        char msg[160];
        if (!config_setting_is_group(e)) {
            snprintf(msg, sizeof(msg), "shoppers.[%d]: expected a group { ... }", i);
            return fail(sf, e, msg);
        }
        double luma = 60, radius = 14, head = -1;
        if (!get_number(e, "luma", &luma) || !get_number(e, "radius", &radius) ||
            !get_number(e, "head_luma", &head) || luma < 0 || luma > 255 || radius < 2 ||
            radius > 200 || head < -1 || head > 255) {
            snprintf(msg, sizeof(msg),
                     "shoppers.[%d]: luma 0..255, head_luma -1..255 and radius 2..200 expected", i);
            return fail(sf, e, msg);
        }
        config_setting_t *pathk = config_setting_get_member(e, "path");
        int np = pathk ? config_setting_length(pathk) : 0;
        if (!pathk || !config_setting_is_array(pathk) || np < 3 || np % 3 ||
            np / 3 > SK_SYNTH_MAX_WAYPOINTS) {
            snprintf(msg, sizeof(msg),
                     "shoppers.[%d].path: [ t, x, y, ... ] triples expected (1 to %d)", i,
                     SK_SYNTH_MAX_WAYPOINTS);
            return fail(sf, pathk ? pathk : e, msg);
        }
        struct sk_synth_look look = {(float)radius, (int)luma, (int)head};
        uint32_t id;
        if (sk_synth_add_shopper(s, &look, &id) < 0) {
            return fail(sf, e, "shoppers: cannot add");
        }
        for (int k = 0; k < np; k += 3) {
            double t = config_setting_get_float_elem(pathk, k);
            double x = config_setting_get_float_elem(pathk, k + 1);
            double y = config_setting_get_float_elem(pathk, k + 2);
            if (config_setting_type(config_setting_get_elem(pathk, 0)) != CONFIG_TYPE_FLOAT) {
                snprintf(msg, sizeof(msg), "shoppers.[%d].path: write numbers as 1.0, not 1", i);
                return fail(sf, pathk, msg);
            }
            if (!(fabs(x) <= SK_SYNTH_MAX_OFFSCREEN * (double)s->p.width) ||
                !(fabs(y) <= SK_SYNTH_MAX_OFFSCREEN * (double)s->p.height)) {
                snprintf(msg, sizeof(msg),
                         "shoppers.[%d].path: waypoint %d: x and y must lie within %d times the "
                         "scene's size (%d x %d) of its origin",
                         i, k / 3, SK_SYNTH_MAX_OFFSCREEN, s->p.width, s->p.height);
                return fail(sf, pathk, msg);
            }
            if (sk_synth_waypoint(s, id, t, (float)x, (float)y) < 0) {
                snprintf(msg, sizeof(msg), "shoppers.[%d].path: waypoint %d: times must increase",
                         i, k / 3);
                return fail(sf, pathk, msg);
            }
        }
        config_setting_t *rk = config_setting_get_member(e, "reach");
        int nr = rk ? config_setting_length(rk) : 0;
        if (rk && (!config_setting_is_array(rk) || nr % 4 || nr / 4 > SK_SYNTH_MAX_REACHES)) {
            snprintf(msg, sizeof(msg),
                     "shoppers.[%d].reach: [ t, seconds, x, y, ... ] quadruples expected (at most "
                     "%d)",
                     i, SK_SYNTH_MAX_REACHES);
            return fail(sf, rk, msg);
        }
        for (int k = 0; k < nr; k += 4) {
            if (sk_synth_reach(s, id, config_setting_get_float_elem(rk, k),
                               config_setting_get_float_elem(rk, k + 1),
                               (float)config_setting_get_float_elem(rk, k + 2),
                               (float)config_setting_get_float_elem(rk, k + 3)) < 0) {
                snprintf(msg, sizeof(msg),
                         "shoppers.[%d].reach: reach %d: 0 < seconds <= 600, the point within "
                         "the scene's reach (write numbers as 1.0)",
                         i, k / 4);
                return fail(sf, rk, msg);
            }
        }
    }
    return 0;
}

/* Parses a scene from text (NUL-terminated, no NUL inside); path names it in messages. */
static int synth_parse(const char *path,
                       const char *text,
                       int width,
                       int height,
                       char *err,
                       size_t err_size,
                       struct sk_synth **ret_scene)
{
    struct scene_file sf = {.path = path, .err = err, .err_size = err_size};
    config_init(&sf.cf);
    int r = 0;
    if (!config_read_string(&sf.cf, text)) {
        if (err && err_size) {
            snprintf(err, err_size, "%s:%d: %s", path, config_error_line(&sf.cf),
                     config_error_text(&sf.cf));
        }
        r = SK_ESCENARIO;
    }
    struct sk_synth_params p;
    sk_synth_params_default(&p, width, height);
    struct sk_synth *s = NULL;
    if (r == 0) {
        r = load_scene_group(&sf, &p);
    }
    if (r == 0 && (r = sk_synth_new(&p, &s)) < 0 && err && err_size) {
        snprintf(err, err_size, "%s: invalid scene parameters", path);
    }
    if (r == 0) {
        r = load_lights(&sf, s);
    }
    if (r == 0) {
        r = load_faults(&sf, s);
    }
    if (r == 0) {
        r = load_shoppers(&sf, s);
    }
    config_destroy(&sf.cf);
    if (r < 0) {
        sk_synth_free(s);
        return r;
    }
    *ret_scene = s;
    return 0;
}

int sk_synth_load_text(const char *name,
                       const char *text,
                       size_t len,
                       int width,
                       int height,
                       char *err,
                       size_t err_size,
                       struct sk_synth **ret_scene)
{
    if (!name || !text || !ret_scene) {
        return -EINVAL;
    }
    if (len > MAX_SCENE_FILE) {
        if (err && err_size) {
            snprintf(err, err_size, "%s: larger than %d bytes", name, MAX_SCENE_FILE);
        }
        return SK_ESCENARIO;
    }
    if (memchr(text, '\0', len)) {
        if (err && err_size) {
            snprintf(err, err_size, "%s: the file contains a NUL byte (not a text file)", name);
        }
        return SK_ESCENARIO;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        return -ENOMEM;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    int r = synth_parse(name, copy, width, height, err, err_size, ret_scene);
    free(copy);
    return r;
}

int sk_synth_load(const char *path,
                  int width,
                  int height,
                  char *err,
                  size_t err_size,
                  struct sk_synth **ret_scene)
{
    if (!path || !ret_scene) {
        return -EINVAL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = -errno;
        if (err && err_size) {
            snprintf(err, err_size, "%s: %s", path, strerror(-e));
        }
        return e;
    }
    char *text;
    size_t n;
    int r = sk_read_bounded(f, MAX_SCENE_FILE, &text, &n);
    if (r < 0) {
        if (r != -ENOMEM && err && err_size) {
            snprintf(err, err_size, "%s: %s", path, strerror(-r));
        }
        return r;
    }
    r = sk_synth_load_text(path, text, n, width, height, err, err_size, ret_scene);
    free(text);
    return r;
}

/* ---- scenes attached by name (in-process simulator) -------------------------------------- */

#define MAX_ATTACHED 16

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    char camera[32];
    struct sk_synth *scene;
} attached[MAX_ATTACHED];

int sk_synth_attach(const char *camera, struct sk_synth *scene)
{
    if (!camera || !camera[0] || strlen(camera) >= sizeof(attached[0].camera) || !scene) {
        return -EINVAL;
    }
    int r = -ENOSPC;
    pthread_mutex_lock(&attach_lock);
    for (size_t i = 0; i < MAX_ATTACHED; i++) {
        if (attached[i].scene && strcmp(attached[i].camera, camera) == 0) {
            r = -EEXIST;
            break;
        }
    }
    for (size_t i = 0; r == -ENOSPC && i < MAX_ATTACHED; i++) {
        if (!attached[i].scene) {
            snprintf(attached[i].camera, sizeof(attached[i].camera), "%s", camera);
            attached[i].scene = scene;
            r = 0;
        }
    }
    pthread_mutex_unlock(&attach_lock);
    return r;
}

void sk_synth_detach(const char *camera)
{
    pthread_mutex_lock(&attach_lock);
    for (size_t i = 0; camera && i < MAX_ATTACHED; i++) {
        if (attached[i].scene && strcmp(attached[i].camera, camera) == 0) {
            attached[i].scene = NULL;
        }
    }
    pthread_mutex_unlock(&attach_lock);
}

struct sk_synth *sk_synth_attached(const char *camera)
{
    struct sk_synth *s = NULL;
    pthread_mutex_lock(&attach_lock);
    for (size_t i = 0; camera && i < MAX_ATTACHED; i++) {
        if (attached[i].scene && strcmp(attached[i].camera, camera) == 0) {
            s = attached[i].scene;
        }
    }
    pthread_mutex_unlock(&attach_lock);
    return s;
}
