/* SPDX-License-Identifier: MIT */
/* The multi-object tracker: constant-velocity prediction, groups, optimal assignment by
 * position, size and look, coasting. */
#include "tracker.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/assign.h"

/*
 * DESIGN
 * Everything is in time, not frames: the camera's rate and the board's processing cap decide
 * how many frames a shopper's walk is cut into (5 to 15 per second), and the same walk must
 * give the same track whatever the count. The gate around a prediction is the measurement
 * noise (gate_px) and half a person, plus how far the shopper can have strayed from it: a
 * track with a velocity may have stopped or turned back (its own speed) or sped up (a
 * quarter of the top speed) in that time, a track without one yet (one measurement) may
 * have gone anywhere a walker reaches in that time.
 *
 * Each frame:
 *  1. Predict every live track to the frame's time with its velocity.
 *  2. Every live track against every blob, by the Hungarian method, on a cost of three
 *     parts: the distance between prediction and blob centre as a share of the gate, how
 *     different the blob's look is from the track's (luma bands of the upper and lower half,
 *     Bhattacharyya), and how different its area is. Position decides; look and size settle
 *     the close calls where people part. A group's member (below) may only take a blob
 *     that comes out of its group's blob, and its gate counts from when it was last
 *     measured alone (it may be anywhere in the group by now).
 *  3. Groups: a confirmed track left without a blob whose prediction lies on one (inside
 *     its box, or a quarter of a person off) is in that blob with whoever took it: shoppers
 *     walking together, passing each other, standing together. Of two blobs beside it, it
 *     takes the one whose occupant moves the same way. A blob no larger than one of them
 *     holds one shopper: only the one that took it (else the oldest) stays; a blob without
 *     room for all (GROUP_ROOM of each one's area) keeps the extra tracks only
 *     max_merged_s (people passing behind one another), then they are left without a blob
 *     and end (two tracks left on one person).
 *  4. Fragments: a blob nobody took that is small beside a measured track (under FRAG_SHARE
 *     of its area and FRAG_PERSON of a person's: one a person's size beside something larger,
 *     a door's leaf, is somebody) and close to it (the box of the track's usual size around its
 *     prediction, or half a person from its blob) is a piece of that shopper (an arm, a
 *     head, legs split off by clothing like the floor): it joins the track's measurement,
 *     whose centre and box then cover the whole shopper.
 *  5. A group's blob is shared out between its members by k-means over its pixels, each
 *     pixel to the nearest member in units of that member's usual size, from the members'
 *     predictions: each member is measured at its share (its velocity follows slowly, a
 *     share being a rough measure) and kept inside the blob's box. Matched tracks take the
 *     measured position (zones and lines want where the shopper is, not a smoothed lag) and
 *     an alpha-beta velocity; their size and look follow over a second. Unmatched tracks
 *     coast on prediction with a decaying velocity; tentative ones die at the first miss,
 *     confirmed ones after max_missed_s unseen (short occlusions: a shelf end, a display),
 *     or at once when the prediction has left the picture (walked out of view: the next
 *     shopper coming in at the door is someone else).
 *  6. Unmatched blobs that are no fragment and not within half a person of a measured
 *     confirmed track start tentative tracks; one that comes out of a group starts its way
 *     where the nearest member is. A tentative track measured confirm_hits times in a row
 *     over at least confirm_s is confirmed and gets its id.
 */

#define BETA           0.4f
#define LOOK_W         0.6f  /* cost of a look that shares nothing with the track's */
#define SIZE_W         0.3f  /* cost of a blob twice (or half) the track's area */
#define TENTATIVE_COST 0.3f  /* a confirmed track is preferred over a tentative one */
#define GROUP_PAD      0.25f /* of a person: a prediction this far off a blob's box is in it */
#define BETA_GROUP     0.25f /* a group member's share of the blob is a rougher measure */
#define LOOK_TAU_S     1.0f
#define AREA_TAU_S     0.5f
#define ONE_SIZE       1.25f /* a blob this close to a member's usual size holds just it */
#define GROUP_ROOM     0.55f /* of a member's area: what a group's blob must have for it */
#define FRAG_SHARE     0.6f  /* a blob under this share of a track's area may be a piece of it */
#define FRAG_PERSON    0.5f  /* ... and under this share of a person's area */
#define MAX_UNSEEN_S   1.0f  /* a group member's gate stops widening after this long */

struct sk_tracker {
    struct sk_tracker_params p;
    int spawn_area;
    float box_w, box_h; /* a measured person's box, 0 while unknown */
    int width, height;  /* the picture, 0 while unknown */
    struct sk_trk slots[SK_TRACKER_MAX];
    uint32_t next_id;
    double cost[SK_TRACKER_MAX * SK_TRACKER_MAX];
};

int vision_tracker_new(const struct sk_tracker_params *p, struct sk_tracker **ret)
{
    if (!p || p->max_tracks < 1 || p->max_tracks > SK_TRACKER_MAX || p->confirm_hits < 1 ||
        !(p->confirm_s >= 0) || !(p->max_missed_s > 0) || !(p->max_merged_s > 0) ||
        !(p->gate_px > 0) || !(p->max_speed_px_s >= 0) || !(p->person_px > 0)) {
        return -EINVAL;
    }
    struct sk_tracker *t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->p = *p;
    t->next_id = 1;
    *ret = t;
    return 0;
}

void vision_tracker_free(struct sk_tracker *t)
{
    free(t);
}

void vision_tracker_set_scale(struct sk_tracker *t,
                              float person_px,
                              float max_speed_px_s,
                              int spawn_area,
                              float box_w,
                              float box_h)
{
    t->box_w = box_w;
    t->box_h = box_h;
    if (person_px > 0) {
        t->p.person_px = person_px;
    }
    if (max_speed_px_s >= 0) {
        t->p.max_speed_px_s = max_speed_px_s;
    }
    t->spawn_area = spawn_area;
}

void vision_tracker_set_view(struct sk_tracker *t, int width, int height)
{
    t->width = width;
    t->height = height;
}

struct sk_trk *vision_tracker_slots(struct sk_tracker *t, size_t *ret_n)
{
    *ret_n = (size_t)t->p.max_tracks;
    return t->slots;
}

void vision_tracker_end_all(struct sk_tracker *t)
{
    for (int i = 0; i < t->p.max_tracks; i++) {
        struct sk_trk *k = &t->slots[i];
        k->born = false;
        if (k->state == SK_TRK_CONFIRMED) {
            k->state = SK_TRK_LOST;
        } else if (k->state != SK_TRK_LOST) {
            k->state = SK_TRK_FREE;
        }
    }
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Distance from (x, y) to the blob's box, 0 inside. */
static float box_distance(const struct sk_vision_blob *b, float x, float y)
{
    float x0 = (float)b->x, x1 = (float)(b->x + b->w), y0 = (float)b->y, y1 = (float)(b->y + b->h);
    float dx = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
    float dy = y < y0 ? y0 - y : y > y1 ? y - y1 : 0;
    return sqrtf(dx * dx + dy * dy);
}

/* True when box a, grown by pad on every side, overlaps box b. */
static bool boxes_meet(const struct sk_vision_blob *a, const struct sk_vision_blob *b, float pad)
{
    return (float)b->x <= (float)(a->x + a->w) + pad && (float)(b->x + b->w) >= (float)a->x - pad &&
           (float)b->y <= (float)(a->y + a->h) + pad && (float)(b->y + b->h) >= (float)a->y - pad;
}

static bool in_box(const struct sk_vision_blob *b, float x, float y, float pad)
{
    return x >= (float)b->x - pad && x <= (float)(b->x + b->w) + pad && y >= (float)b->y - pad &&
           y <= (float)(b->y + b->h) + pad;
}

/* The share of a step towards a new value after dt of a smoothing with time constant tau. */
static float step(float dt, float tau)
{
    return dt <= 0 ? 0 : 1.0f - expf(-dt / tau);
}

/* Bhattacharyya coefficient of two looks: 1 the same bands, 0 nothing in common. */
static float look_likeness(const struct sk_look *a, const struct sk_look *b)
{
    float s = 0;
    for (int i = 0; i < SK_LOOK_BINS; i++) {
        s += sqrtf(a->hist[i] * b->hist[i]);
    }
    return s;
}

/* A piece joins a measurement: area-weighted centre, the union of the boxes. */
static void join(struct sk_vision_blob *m, const struct sk_vision_blob *f)
{
    float a = (float)m->area, b = (float)f->area;
    m->cx = (m->cx * a + f->cx * b) / (a + b);
    m->cy = (m->cy * a + f->cy * b) / (a + b);
    int x1 = m->x + m->w > f->x + f->w ? m->x + m->w : f->x + f->w;
    int y1 = m->y + m->h > f->y + f->h ? m->y + m->h : f->y + f->h;
    m->x = m->x < f->x ? m->x : f->x;
    m->y = m->y < f->y ? m->y : f->y;
    m->w = x1 - m->x;
    m->h = y1 - m->y;
    m->area += f->area;
}

static void take_box(struct sk_trk *k, const struct sk_vision_blob *m)
{
    k->bx = m->x;
    k->by = m->y;
    k->bw = m->w;
    k->bh = m->h;
}

/* A box of its own narrows the point all its boxes hold; none left: it has travelled. */
static void anchor(struct sk_trk *k, const struct sk_vision_blob *m, bool first)
{
    if (first) {
        k->ax0 = m->x;
        k->ay0 = m->y;
        k->ax1 = m->x + m->w;
        k->ay1 = m->y + m->h;
        k->travelled = false;
        return;
    }
    k->ax0 = k->ax0 > m->x ? k->ax0 : m->x;
    k->ay0 = k->ay0 > m->y ? k->ay0 : m->y;
    k->ax1 = k->ax1 < m->x + m->w ? k->ax1 : m->x + m->w;
    k->ay1 = k->ay1 < m->y + m->h ? k->ay1 : m->y + m->h;
    k->travelled = k->travelled || k->ax0 >= k->ax1 || k->ay0 >= k->ay1;
}

/* A tentative track seen often and long enough is reported. */
static void confirm(struct sk_tracker *t, struct sk_trk *k, int64_t t_us)
{
    if (k->state == SK_TRK_TENTATIVE && k->hits >= t->p.confirm_hits &&
        (float)(t_us - k->birth_us) / 1e6f >= t->p.confirm_s - 1e-4f) {
        k->state = SK_TRK_CONFIRMED;
        k->id = t->next_id++;
        k->born = true;
    }
}

/* A matched track takes its measurement (its blob and any fragments). */
static void measure(struct sk_tracker *t,
                    struct sk_trk *k,
                    const struct sk_vision_blob *m,
                    const struct sk_look *look,
                    float px,
                    float py,
                    int64_t t_us)
{
    float dt = (float)(t_us - k->t_us) / 1e6f;
    if (dt > 1e-4f) {
        if (k->hits == 1) {
            k->vx = (m->cx - k->x) / dt;
            k->vy = (m->cy - k->y) / dt;
        } else {
            k->vx += BETA * (m->cx - px) / dt;
            k->vy += BETA * (m->cy - py) / dt;
        }
    }
    /* Time since the last measurement alone: a shopper back from a group or an occlusion
     * refreshes their size and look at once, one measured every frame slowly. */
    float since = (float)(t_us - k->solo_us) / 1e6f;
    float a_size = k->area > 0 ? step(since, AREA_TAU_S) : 1.0f;
    k->area += a_size * ((float)m->area - k->area);
    k->sw += a_size * ((float)m->w - k->sw);
    k->sh += a_size * ((float)m->h - k->sh);
    if (look) {
        float a = k->has_look ? step(since, LOOK_TAU_S) : 1.0f;
        for (int i = 0; i < SK_LOOK_BINS; i++) {
            k->look.hist[i] += a * (look->hist[i] - k->look.hist[i]);
        }
        k->has_look = true;
    }
    k->x = m->cx;
    k->y = m->cy;
    k->t_us = k->seen_us = k->solo_us = t_us;
    k->solo_x = m->cx;
    k->solo_y = m->cy;
    take_box(k, m);
    anchor(k, m, false);
    k->hits++;
    k->missed = 0;
    k->merged_since_us = 0;
    k->g_us = 0;
    k->matched = true;
    confirm(t, k, t_us);
}

/*
 * Shares a group's blob out between its k members: k-means over the blob's pixels (every
 * other row and column), each pixel to the nearest member centre in units of that member's
 * usual size (a tall oblique shopper reaches further up and down than sideways), starting
 * from the members' predictions. cx, cy: in the predictions, out the shares' centres;
 * ret_n: the pixels of each share (sampled).
 */
static void share_out(const struct sk_blob_pixels *pix,
                      const struct sk_vision_blob *b,
                      int32_t label,
                      int k,
                      const float *sw,
                      const float *sh,
                      float *cx,
                      float *cy,
                      int *ret_n)
{
    for (int iter = 0; iter < 4; iter++) {
        float sx[SK_TRACKER_MAX] = {0}, sy[SK_TRACKER_MAX] = {0};
        int n[SK_TRACKER_MAX] = {0};
        for (int y = b->y; y < b->y + b->h; y += 2) {
            const int32_t *row = pix->labels + (size_t)y * (size_t)pix->width;
            for (int x = b->x; x < b->x + b->w; x += 2) {
                if (row[x] != label) {
                    continue;
                }
                int best = 0;
                float best_d = 0;
                for (int m = 0; m < k; m++) {
                    float dx = ((float)x - cx[m]) / sw[m], dy = ((float)y - cy[m]) / sh[m];
                    float d = dx * dx + dy * dy;
                    if (m == 0 || d < best_d) {
                        best = m;
                        best_d = d;
                    }
                }
                sx[best] += (float)x;
                sy[best] += (float)y;
                n[best]++;
            }
        }
        for (int m = 0; m < k; m++) {
            if (n[m] > 0) {
                cx[m] = sx[m] / (float)n[m];
                cy[m] = sy[m] / (float)n[m];
            }
            ret_n[m] = n[m];
        }
    }
}

/* A group member: measured at its share of the group's blob (mx, my) when it has one, on
 * its prediction otherwise; kept inside the blob's box. */
static void stay_in_group(struct sk_tracker *t,
                          struct sk_trk *k,
                          const struct sk_vision_blob *m,
                          bool measured,
                          float mx,
                          float my,
                          int64_t t_us)
{
    const float max_speed = t->p.max_speed_px_s;
    float dt = (float)(t_us - k->t_us) / 1e6f;
    dt = dt < 0 ? 0 : dt > 2 ? 2 : dt;
    float px = k->x + k->vx * dt, py = k->y + k->vy * dt;
    if (k->g_us == 0) {
        k->merged_since_us = t_us;
    }
    if (measured && dt > 1e-4f) {
        k->vx += BETA_GROUP * (mx - px) / dt;
        k->vy += BETA_GROUP * (my - py) / dt;
        float sp = sqrtf(k->vx * k->vx + k->vy * k->vy);
        if (sp > max_speed && sp > 0) {
            k->vx *= max_speed / sp;
            k->vy *= max_speed / sp;
        }
        px = mx;
        py = my;
    }
    k->x = clampf(px, (float)m->x, (float)(m->x + m->w));
    k->y = clampf(py, (float)m->y, (float)(m->y + m->h));
    k->gcx = m->cx;
    k->gcy = m->cy;
    anchor(k, m, false); /* it is somewhere in the group's box */
    k->g_us = t_us;
    k->t_us = k->seen_us = t_us;
    take_box(k, m);
    k->merged = true;
    k->missed = 0;
    if (measured && k->state == SK_TRK_TENTATIVE) {
        /* one of two who came into view together (split_pairs): its share is its sighting */
        k->hits++;
        confirm(t, k, t_us);
    }
}

/*
 * Two people who come into view touching are one blob from their first sighting, so no
 * track of either is there to share it out. A young track (seen first under SPLIT_YOUNG_S
 * ago) alone on a blob that is two people side by side, by its shape against the median
 * box of the people tracked here (one person's height and twice their width, or the other
 * way round, and twice their area), is split: k-means over the blob's pixels from its two
 * halves; if each half holds a good share, the track keeps the half nearer its prediction
 * and a new track, of the same age and origin, takes the other. Both are then members of a
 * group, shared out every frame until they part. A person nearer the camera is larger in
 * both directions, so is never split by this in an oblique view; nor is a group that walks
 * diagonally (its box is not a person's height).
 */
#define SPLIT_YOUNG_S 1.5f
#define SPLIT_WIDE    1.7f /* twice a person's width, give or take: two side by side */
#define SPLIT_NARROW  1.3f /* and no more than this of their height */
#define SPLIT_AREA    1.7f /* of a person's area */
#define SPLIT_SHARE   0.3f /* each half at least this share of the blob */

static void split_pairs(struct sk_tracker *t,
                        const struct sk_vision_blob *blobs,
                        const struct sk_look *looks,
                        const struct sk_blob_pixels *pixels,
                        const int *blob_of,
                        const float *px,
                        const float *py,
                        int64_t t_us)
{
    const float bw = t->box_w, bh = t->box_h, person = t->p.person_px;
    if (bw <= 0 || bh <= 0 || !pixels) {
        return;
    }
    for (int i = 0; i < t->p.max_tracks; i++) {
        struct sk_trk *k = &t->slots[i];
        int b = blob_of[i];
        if (b < 0 || !k->matched || k->merged ||
            (float)(t_us - k->birth_us) / 1e6f > SPLIT_YOUNG_S) {
            continue;
        }
        const struct sk_vision_blob *m = &blobs[b];
        bool wide = (float)m->w >= SPLIT_WIDE * bw && (float)m->h <= SPLIT_NARROW * bh;
        bool tall = (float)m->h >= SPLIT_WIDE * bh && (float)m->w <= SPLIT_NARROW * bw;
        if (!(wide || tall) || (float)m->area < SPLIT_AREA * person * person) {
            continue;
        }
        int free_slot = -1;
        for (int j = 0; j < t->p.max_tracks && free_slot < 0; j++) {
            free_slot = t->slots[j].state == SK_TRK_FREE ? j : -1;
        }
        if (free_slot < 0) {
            return;
        }
        float cx[2], cy[2], sw[2] = {bw, bw}, sh[2] = {bh, bh};
        int n[2];
        cx[0] = wide ? (float)m->x + 0.25f * (float)m->w : m->cx;
        cx[1] = wide ? (float)m->x + 0.75f * (float)m->w : m->cx;
        cy[0] = wide ? m->cy : (float)m->y + 0.25f * (float)m->h;
        cy[1] = wide ? m->cy : (float)m->y + 0.75f * (float)m->h;
        share_out(pixels, m, pixels->label_of[b], 2, sw, sh, cx, cy, n);
        int total = n[0] + n[1];
        if (total <= 0 || (float)n[0] < SPLIT_SHARE * (float)total ||
            (float)n[1] < SPLIT_SHARE * (float)total) {
            continue;
        }
        float d0 = (cx[0] - px[i]) * (cx[0] - px[i]) + (cy[0] - py[i]) * (cy[0] - py[i]);
        float d1 = (cx[1] - px[i]) * (cx[1] - px[i]) + (cy[1] - py[i]) * (cy[1] - py[i]);
        int mine = d1 < d0 ? 1 : 0;
        struct sk_trk *o = &t->slots[free_slot];
        *o = *k; /* the same age, origin, look and way so far */
        o->state = SK_TRK_TENTATIVE;
        o->id = 0;
        o->born = false;
        o->hits = 1;
        if (looks) {
            o->look = looks[b];
        }
        struct sk_trk *who[2] = {k, o};
        for (int h = 0; h < 2; h++) {
            struct sk_trk *q = who[h];
            int s = h == 0 ? mine : 1 - mine;
            q->x = q->solo_x = cx[s];
            q->y = q->solo_y = cy[s];
            q->area = 0.5f * (float)m->area;
            q->sw = bw;
            q->sh = bh;
            q->gcx = m->cx;
            q->gcy = m->cy;
            q->matched = false;
            q->merged = true;
        }
        /* The new one is a member of the group; the track keeps its way of taking a blob, so
         * that where its pair cannot follow (the blob went further than its box between two
         * frames), it goes on alone as before. */
        o->g_us = o->merged_since_us = t_us;
    }
}

void vision_tracker_update(struct sk_tracker *t,
                           const struct sk_vision_blob *blobs,
                           const struct sk_look *looks,
                           const struct sk_blob_pixels *pixels,
                           size_t n_blobs,
                           int64_t t_us)
{
    const int nt = t->p.max_tracks;
    const float person = t->p.person_px;
    int nb = n_blobs > SK_TRACKER_MAX ? SK_TRACKER_MAX : (int)n_blobs;
    float px[SK_TRACKER_MAX], py[SK_TRACKER_MAX];
    int group_of[SK_TRACKER_MAX]; /* track -> the blob of its group, or -1 */
    int near_blob[SK_TRACKER_MAX];
    int blob_use[SK_TRACKER_MAX]; /* 0 free, 1 taken, 2 a group's, 3 a fragment */
    int blob_of[SK_TRACKER_MAX];  /* track -> the blob it was measured on alone, or -1 */
    struct sk_vision_blob meas[SK_TRACKER_MAX];
    for (int b = 0; b < nb; b++) {
        blob_use[b] = 0;
        meas[b] = blobs[b];
    }
    for (int i = 0; i < SK_TRACKER_MAX; i++) {
        blob_of[i] = -1;
    }

    /* 1. Free what ended last time; predict the rest. */
    for (int i = 0; i < nt; i++) {
        struct sk_trk *k = &t->slots[i];
        group_of[i] = -1;
        near_blob[i] = -1;
        if (k->state == SK_TRK_LOST) {
            k->state = SK_TRK_FREE;
        }
        k->born = k->matched = k->merged = false;
        if (k->state == SK_TRK_FREE) {
            continue;
        }
        float dt = (float)(t_us - k->t_us) / 1e6f;
        dt = dt < 0 ? 0 : dt > 2 ? 2 : dt;
        px[i] = k->x + k->vx * dt;
        py[i] = k->y + k->vy * dt;
    }

    /* 2. Assignment: every live track against every blob. */
    const float pad = GROUP_PAD * person;
    int rows[SK_TRACKER_MAX], nr = 0;
    for (int i = 0; i < nt; i++) {
        if (t->slots[i].state != SK_TRK_FREE) {
            rows[nr++] = i;
        }
    }
    const float forbid = 1e9f;
    double *cost = t->cost;
    for (int r = 0; r < nr; r++) {
        const struct sk_trk *k = &t->slots[rows[r]];
        /* Unseen: a group's member since it was last measured alone (it may be anywhere in
         * the group, and leaves it only by a blob that comes out of it: below), any other
         * track since it was last seen, up to half a second's worth: enough behind an
         * obstacle, not for a jump to someone else. */
        float unseen = (float)(t_us - (k->g_us ? k->solo_us : k->seen_us)) / 1e6f;
        float most = k->g_us ? MAX_UNSEEN_S : 0.5f;
        unseen = unseen < 0 ? 0 : unseen > most ? most : unseen;
        float speed = sqrtf(k->vx * k->vx + k->vy * k->vy);
        float spread = k->hits >= 2 ? speed + 0.25f * t->p.max_speed_px_s : t->p.max_speed_px_s;
        float gate = t->p.gate_px + 0.5f * person + spread * unseen;
        /* A group's member leaves it by a blob that comes out of the group's blob. */
        struct sk_vision_blob group = {0};
        group.x = k->bx;
        group.y = k->by;
        group.w = k->bw;
        group.h = k->bh;
        for (int b = 0; b < nb; b++) {
            const struct sk_vision_blob *bl = &blobs[b];
            float dx = bl->cx - px[rows[r]], dy = bl->cy - py[rows[r]];
            float d = sqrtf(dx * dx + dy * dy);
            if (d > gate || (k->g_us && !boxes_meet(&group, bl, pad))) {
                cost[r * nb + b] = forbid;
                continue;
            }
            float cst = d / gate;
            if (looks && k->has_look) {
                cst += LOOK_W * (1.0f - look_likeness(&k->look, &looks[b]));
            }
            if (k->area > 0 && bl->area > 0) {
                cst += SIZE_W * fminf(fabsf(logf((float)bl->area / k->area)) / logf(2.0f), 2.0f);
            }
            cost[r * nb + b] = cst + (k->state == SK_TRK_TENTATIVE ? TENTATIVE_COST : 0);
        }
    }
    int match[SK_TRACKER_MAX];
    double work[SK_ASSIGN_WORK_SIZE(SK_TRACKER_MAX) / sizeof(double) + 1];
    sk_assign(cost, (size_t)nr, (size_t)nb, forbid, work, match);
    int taker[SK_TRACKER_MAX]; /* blob -> the row that took it, or -1 */
    for (int b = 0; b < nb; b++) {
        taker[b] = -1;
    }
    for (int r = 0; r < nr; r++) {
        if (match[r] >= 0) {
            blob_use[match[r]] = 1;
            taker[match[r]] = r;
        }
    }

    /* 3. Groups: a confirmed track left without a blob whose prediction lies on one (its box,
     * or within GROUP_PAD of a person of it) is in that blob with whoever took it. */
    for (int r = 0; r < nr; r++) {
        const struct sk_trk *k = &t->slots[rows[r]];
        /* confirmed tracks, and the tentative halves of a pair split on sight (split_pairs) */
        if (match[r] >= 0 || (k->state != SK_TRK_CONFIRMED && !k->g_us)) {
            continue;
        }
        int i = rows[r];
        /* A member stays with the blob its group became while it is within reach of it. */
        struct sk_vision_blob group = {0};
        group.x = k->bx;
        group.y = k->by;
        group.w = k->bw;
        group.h = k->bh;
        float reach = k->g_us ? 0.75f * person : pad;
        /* The blob nearest to the prediction, and whose occupant moves the same way: of
         * two blobs beside a member, the one with the person it walks with. */
        float best = 0;
        for (int b = 0; b < nb; b++) {
            float d = box_distance(&blobs[b], px[i], py[i]);
            if (d > reach || (k->g_us && d > pad && !boxes_meet(&group, &blobs[b], pad))) {
                continue;
            }
            float dx = blobs[b].cx - px[i], dy = blobs[b].cy - py[i];
            float c = d / reach + 0.1f * sqrtf(dx * dx + dy * dy) / person;
            if (taker[b] >= 0 && t->p.max_speed_px_s > 0) {
                const struct sk_trk *o = &t->slots[rows[taker[b]]];
                float ux = o->vx - k->vx, uy = o->vy - k->vy;
                c += 0.5f * fminf(1.0f, sqrtf(ux * ux + uy * uy) / t->p.max_speed_px_s);
            }
            if (near_blob[i] < 0 || c < best) {
                best = c;
                near_blob[i] = b;
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        int count = 0, lone = -1;
        for (int r = 0; r < nr; r++) {
            if (near_blob[rows[r]] == b || taker[b] == r) {
                count++;
                lone = r;
            }
        }
        if (count == 1 && taker[b] < 0) {
            /* one track on a blob it was too far from the centre of (a large blob) */
            match[lone] = b;
            taker[b] = lone;
            blob_use[b] = 1;
            continue;
        }
        if (count < 2) {
            continue;
        }
        /* The oldest tracks first, as long as the blob has room for them (each takes
         * GROUP_ROOM of its own area); more only while the group is young (people passing
         * behind one another); else the extra tracks (two left on one person) are left
         * without a blob and end. */
        int cand[SK_TRACKER_MAX], nc = 0;
        for (int r = 0; r < nr; r++) {
            if (near_blob[rows[r]] == b || taker[b] == r) {
                int j = nc++;
                while (j > 0 && t->slots[rows[cand[j - 1]]].birth_us > t->slots[rows[r]].birth_us) {
                    cand[j] = cand[j - 1];
                    j--;
                }
                cand[j] = r;
            }
        }
        /* A blob no larger than the largest of them holds one shopper, whatever the tracks
         * think: the first of them (the one that took it, else the oldest) keeps it. */
        float big_w = 0, big_h = 0, big_a = 0;
        for (int c = 0; c < nc; c++) {
            const struct sk_trk *k = &t->slots[rows[cand[c]]];
            big_w = fmaxf(big_w, k->sw);
            big_h = fmaxf(big_h, k->sh);
            big_a = fmaxf(big_a, k->area);
        }
        bool one = (float)blobs[b].w <= ONE_SIZE * big_w && (float)blobs[b].h <= ONE_SIZE * big_h &&
                   (float)blobs[b].area <= ONE_SIZE * big_a;
        float used = 0;
        int members = 0;
        for (int c = 0; c < nc; c++) {
            struct sk_trk *k = &t->slots[rows[cand[c]]];
            if (one && members >= 1 && taker[b] != cand[c]) {
                continue;
            }
            if (one && taker[b] >= 0 && taker[b] != cand[c]) {
                continue;
            }
            used += GROUP_ROOM * (k->area > 0 ? k->area : person * person);
            bool young =
                    k->g_us == 0 || (float)(t_us - k->merged_since_us) / 1e6f < t->p.max_merged_s;
            if (used > (float)blobs[b].area && members >= 1 && !young && taker[b] != cand[c]) {
                continue;
            }
            group_of[rows[cand[c]]] = b;
            members++;
        }
        if (members >= 2) {
            blob_use[b] = 2;
            if (taker[b] >= 0) {
                match[taker[b]] = -1;
            }
        } else {
            for (int r = 0; r < nr; r++) {
                if (group_of[rows[r]] == b && taker[b] < 0) {
                    match[r] = b; /* the one it holds */
                    taker[b] = r;
                    blob_use[b] = 1;
                }
                group_of[rows[r]] = group_of[rows[r]] == b ? -1 : group_of[rows[r]];
            }
        }
    }

    /* 4. Fragments: small blobs beside a measured track join its measurement. */
    for (int f = 0; f < nb; f++) {
        if (blob_use[f] != 0) {
            continue;
        }
        int best = -1;
        float best_d = 0;
        for (int b = 0; b < nb; b++) {
            if (blob_use[b] != 1 && blob_use[b] != 2) {
                continue;
            }
            /* the track's (or the group's) area: the blob may be a piece of it */
            float area = (float)blobs[b].area;
            if (blob_use[b] == 1 && t->slots[rows[taker[b]]].area > area) {
                area = t->slots[rows[taker[b]]].area;
            }
            /* A piece is smaller than the track and than half a person: a blob a person's
             * size beside a larger blob (a shopper walking past a door's leaf, a cart) is
             * somebody, not a piece of it. */
            if ((float)blobs[f].area >= FRAG_SHARE * area ||
                (float)blobs[f].area >= FRAG_PERSON * person * person) {
                continue;
            }
            /* Where the shopper is: the blob taken, and for a track the box of its usual
             * size around its prediction (the blob may be half of them). */
            struct sk_vision_blob where = blobs[b];
            if (blob_use[b] == 1) {
                const struct sk_trk *k = &t->slots[rows[taker[b]]];
                struct sk_vision_blob usual = {0};
                usual.x = (int)(px[rows[taker[b]]] - 0.5f * k->sw);
                usual.y = (int)(py[rows[taker[b]]] - 0.5f * k->sh);
                usual.w = (int)k->sw;
                usual.h = (int)k->sh;
                usual.area = 1;
                join(&where, &usual);
            }
            float dx = blobs[f].cx - blobs[b].cx, dy = blobs[f].cy - blobs[b].cy;
            float d = sqrtf(dx * dx + dy * dy);
            if ((in_box(&where, blobs[f].cx, blobs[f].cy, 0.25f * person) || d < 0.5f * person) &&
                (best < 0 || d < best_d)) {
                best = b;
                best_d = d;
            }
        }
        if (best >= 0) {
            blob_use[f] = 3;
            join(&meas[best], &blobs[f]);
        }
    }

    /* 5. Update groups, matched and unmatched tracks. */
    for (int b = 0; b < nb; b++) {
        if (blob_use[b] != 2) {
            continue;
        }
        int who[SK_TRACKER_MAX], k = 0, n[SK_TRACKER_MAX];
        float cx[SK_TRACKER_MAX], cy[SK_TRACKER_MAX], sw[SK_TRACKER_MAX], sh[SK_TRACKER_MAX];
        for (int i = 0; i < nt; i++) {
            if (group_of[i] == b) {
                const struct sk_trk *m = &t->slots[i];
                who[k] = i;
                cx[k] = clampf(px[i], (float)blobs[b].x, (float)(blobs[b].x + blobs[b].w));
                cy[k] = clampf(py[i], (float)blobs[b].y, (float)(blobs[b].y + blobs[b].h));
                sw[k] = m->sw > 1 ? m->sw : person;
                sh[k] = m->sh > 1 ? m->sh : person;
                n[k] = 0;
                k++;
            }
        }
        if (pixels) {
            share_out(pixels, &blobs[b], pixels->label_of[b], k, sw, sh, cx, cy, n);
        }
        for (int m = 0; m < k; m++) {
            stay_in_group(t, &t->slots[who[m]], &meas[b], n[m] > 0, cx[m], cy[m], t_us);
        }
    }
    for (int r = 0; r < nr; r++) {
        struct sk_trk *k = &t->slots[rows[r]];
        int i = rows[r];
        if (group_of[i] >= 0) {
            continue;
        } else if (match[r] >= 0) {
            int b = match[r];
            measure(t, k, &meas[b], looks ? &looks[b] : NULL, px[i], py[i], t_us);
            blob_of[i] = b;
        } else if (k->state == SK_TRK_TENTATIVE) {
            k->state = SK_TRK_FREE;
        } else {
            k->missed++;
            k->x = px[i];
            k->y = py[i];
            k->vx *= 0.8f;
            k->vy *= 0.8f;
            k->t_us = t_us;
            k->g_us = 0;
            /* gone out of the picture, or unseen too long */
            float out = 0.5f * person;
            bool gone =
                    t->width > 0 && (k->x < -out || k->y < -out || k->x > (float)t->width + out ||
                                     k->y > (float)t->height + out);
            if (gone || (float)(t_us - k->seen_us) / 1e6f > t->p.max_missed_s) {
                k->state = SK_TRK_LOST;
            }
        }
    }

    /* 6. New tentative tracks from blobs nobody claimed. */
    for (int b = 0; b < nb; b++) {
        if (blob_use[b] != 0 || blobs[b].area < t->spawn_area) {
            continue;
        }
        /* Too close to a measured shopper to be another one: a piece of them. */
        bool near = false;
        const struct sk_trk *parent = NULL;
        float split = 1.5f * person, best = split * split;
        for (int i = 0; i < nt && !near; i++) {
            const struct sk_trk *k = &t->slots[i];
            if (k->state != SK_TRK_CONFIRMED || !(k->matched || k->merged)) {
                continue;
            }
            float dx = blobs[b].cx - k->x, dy = blobs[b].cy - k->y;
            float d2 = dx * dx + dy * dy;
            near = d2 < 0.25f * person * person;
            /* A shopper stepping out of a group (a blob that holds a confirmed track) was
             * where the group is: the new track's way starts there, so leaving a group
             * standing on the far side of a line is a crossing. */
            if (d2 < best) {
                best = d2;
                parent = k;
            }
        }
        for (int i = 0; i < nt && !near; i++) {
            struct sk_trk *k = &t->slots[i];
            if (k->state != SK_TRK_FREE) {
                continue;
            }
            float px0 = parent ? parent->x : blobs[b].cx, py0 = parent ? parent->y : blobs[b].cy;
            memset(k, 0, sizeof(*k));
            k->state = SK_TRK_TENTATIVE;
            k->x = k->solo_x = blobs[b].cx;
            k->y = k->solo_y = blobs[b].cy;
            k->birth_x = px0;
            k->birth_y = py0;
            k->t_us = k->birth_us = k->seen_us = k->solo_us = t_us;
            take_box(k, &blobs[b]);
            anchor(k, &blobs[b], true);
            k->area = (float)blobs[b].area;
            k->sw = (float)blobs[b].w;
            k->sh = (float)blobs[b].h;
            if (looks) {
                k->look = looks[b];
                k->has_look = true;
            }
            /* out of a group that has gone somewhere: so has this one */
            k->travelled = parent && parent->travelled;
            k->hits = 1;
            k->matched = true;
            blob_of[i] = b;
            px[i] = blobs[b].cx;
            py[i] = blobs[b].cy;
            if (t->p.confirm_hits <= 1 && t->p.confirm_s <= 0) {
                k->state = SK_TRK_CONFIRMED;
                k->id = t->next_id++;
                k->born = true;
            }
            break;
        }
    }

    /* 7. Two who came into view as one blob. */
    split_pairs(t, blobs, looks, pixels, blob_of, px, py, t_us);
}
