/* SPDX-License-Identifier: MIT */
/* The multi-object tracker: constant-velocity prediction, optimal assignment, coasting. */
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
 * noise (gate_px) and half a person, plus how far the shopper can have strayed from it since
 * last seen: a track with a velocity may have stopped or turned back (its own speed) or sped
 * up (a quarter of the top speed) in that time, a track without one yet (one measurement)
 * may have gone anywhere a walker reaches in that time.
 *
 * Each frame:
 *  1. Predict every live track to the frame's time with its velocity.
 *  2. Merges: a blob whose box holds the predictions of two or more confirmed tracks is two
 *     shoppers seen as one (passing close, crossing paths). Those tracks coast through it on
 *     their predictions, kept inside the blob's box, and keep their velocities; the blob
 *     takes no further part. When the shoppers part, the predictions carry each identity to
 *     the right blob. A merge that lasts longer than max_merged_s ends this: the tracks
 *     then compete for the blob like any other.
 *  3. The other tracks and blobs are matched by the Hungarian method on the distance between
 *     prediction and blob centre, gated (a gate that widens while a track goes unseen).
 *  4. Matched tracks take the measured position (zones and lines want where the shopper is,
 *     not a smoothed lag) and an alpha-beta velocity. Unmatched tracks coast on prediction
 *     with a decaying velocity; tentative ones die at the first miss, confirmed ones after
 *     max_missed_s unseen (short occlusions: a shelf end, a display).
 *  5. Unmatched blobs start tentative tracks, except fragments of a confirmed track (within
 *     about half a person of it: an arm, a bag, a head split from the shoulders), so a
 *     shopper who splits for a moment keeps one identity. A tentative track measured
 *     confirm_hits times in a row over at least confirm_s is confirmed and gets its id.
 */

#define BETA 0.4f

struct sk_tracker {
    struct sk_tracker_params p;
    int spawn_area;
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
                              int spawn_area)
{
    if (person_px > 0) {
        t->p.person_px = person_px;
    }
    if (max_speed_px_s >= 0) {
        t->p.max_speed_px_s = max_speed_px_s;
    }
    t->spawn_area = spawn_area;
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

static bool in_box(const struct sk_vision_blob *b, float x, float y, float pad)
{
    return x >= (float)b->x - pad && x <= (float)(b->x + b->w) + pad && y >= (float)b->y - pad &&
           y <= (float)(b->y + b->h) + pad;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void vision_tracker_update(struct sk_tracker *t,
                           const struct sk_vision_blob *blobs,
                           size_t n_blobs,
                           int64_t t_us)
{
    const int nt = t->p.max_tracks;
    int nb = n_blobs > SK_TRACKER_MAX ? SK_TRACKER_MAX : (int)n_blobs;
    float px[SK_TRACKER_MAX], py[SK_TRACKER_MAX];
    bool blob_used[SK_TRACKER_MAX] = {false};

    /* 1. Free what ended last time; predict the rest. */
    for (int i = 0; i < nt; i++) {
        struct sk_trk *k = &t->slots[i];
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

    /* 2. Merged blobs. */
    for (int b = 0; b < nb; b++) {
        int inside[SK_TRACKER_MAX], count = 0;
        for (int i = 0; i < nt; i++) {
            const struct sk_trk *k = &t->slots[i];
            bool fresh = k->merged_since_us == 0 ||
                         (float)(t_us - k->merged_since_us) / 1e6f < t->p.max_merged_s;
            if (k->state == SK_TRK_CONFIRMED && fresh && in_box(&blobs[b], px[i], py[i], 3.0f)) {
                inside[count++] = i;
            }
        }
        if (count < 2) {
            continue;
        }
        blob_used[b] = true;
        for (int c = 0; c < count; c++) {
            struct sk_trk *k = &t->slots[inside[c]];
            k->merged = true;
            if (k->merged_since_us == 0) {
                k->merged_since_us = t_us;
            }
            k->seen_us = t_us;
            k->bx = blobs[b].x;
            k->by = blobs[b].y;
            k->bw = blobs[b].w;
            k->bh = blobs[b].h;
            k->x = clampf(px[inside[c]], (float)blobs[b].x, (float)(blobs[b].x + blobs[b].w));
            k->y = clampf(py[inside[c]], (float)blobs[b].y, (float)(blobs[b].y + blobs[b].h));
            k->t_us = t_us;
        }
    }

    /* 3. Assignment of the remaining tracks and blobs. */
    int rows[SK_TRACKER_MAX], cols[SK_TRACKER_MAX], nr = 0, nc = 0;
    for (int i = 0; i < nt; i++) {
        if (t->slots[i].state != SK_TRK_FREE && !t->slots[i].merged) {
            rows[nr++] = i;
        }
    }
    for (int b = 0; b < nb; b++) {
        if (!blob_used[b]) {
            cols[nc++] = b;
        }
    }
    const float forbid = 1e9f;
    double *cost = t->cost;
    for (int r = 0; r < nr; r++) {
        const struct sk_trk *k = &t->slots[rows[r]];
        /* The gate widens with the time since the track was last seen: a shopper who changed
         * pace (or, before a velocity is known, walked anywhere at up to the top speed), up
         * to half a second's worth: enough behind an obstacle, not for a jump to someone
         * else. */
        float unseen = (float)(t_us - k->seen_us) / 1e6f;
        unseen = unseen < 0 ? 0 : unseen > 0.5f ? 0.5f : unseen;
        float speed = sqrtf(k->vx * k->vx + k->vy * k->vy);
        float spread = k->hits >= 2 ? speed + 0.25f * t->p.max_speed_px_s : t->p.max_speed_px_s;
        float gate = t->p.gate_px + 0.5f * t->p.person_px + spread * unseen;
        for (int c = 0; c < nc; c++) {
            float dx = blobs[cols[c]].cx - px[rows[r]], dy = blobs[cols[c]].cy - py[rows[r]];
            float d = sqrtf(dx * dx + dy * dy);
            /* Prefer confirmed tracks when a tentative one competes for the same blob. */
            cost[r * nc + c] = d > gate ? forbid : d + (k->state == SK_TRK_TENTATIVE ? 5.0f : 0);
        }
    }
    int match[SK_TRACKER_MAX];
    double work[SK_ASSIGN_WORK_SIZE(SK_TRACKER_MAX) / sizeof(double) + 1];
    sk_assign(cost, (size_t)nr, (size_t)nc, forbid, work, match);

    /* 4. Update matched and unmatched tracks. */
    for (int r = 0; r < nr; r++) {
        struct sk_trk *k = &t->slots[rows[r]];
        float dt = (float)(t_us - k->t_us) / 1e6f;
        if (match[r] >= 0) {
            const struct sk_vision_blob *b = &blobs[cols[match[r]]];
            blob_used[cols[match[r]]] = true;
            if (dt > 1e-4f) {
                if (k->hits == 1) {
                    k->vx = (b->cx - k->x) / dt;
                    k->vy = (b->cy - k->y) / dt;
                } else {
                    k->vx += BETA * (b->cx - px[rows[r]]) / dt;
                    k->vy += BETA * (b->cy - py[rows[r]]) / dt;
                }
            }
            k->x = b->cx;
            k->y = b->cy;
            k->t_us = t_us;
            k->seen_us = t_us;
            k->bx = b->x;
            k->by = b->y;
            k->bw = b->w;
            k->bh = b->h;
            k->hits++;
            k->missed = 0;
            k->merged_since_us = 0;
            k->matched = true;
            if (k->state == SK_TRK_TENTATIVE && k->hits >= t->p.confirm_hits &&
                (float)(t_us - k->birth_us) / 1e6f >= t->p.confirm_s - 1e-4f) {
                k->state = SK_TRK_CONFIRMED;
                k->id = t->next_id++;
                k->born = true;
            }
        } else if (k->state == SK_TRK_TENTATIVE) {
            k->state = SK_TRK_FREE;
        } else {
            k->missed++;
            k->x = px[rows[r]];
            k->y = py[rows[r]];
            k->vx *= 0.8f;
            k->vy *= 0.8f;
            k->t_us = t_us;
            if ((float)(t_us - k->seen_us) / 1e6f > t->p.max_missed_s) {
                k->state = SK_TRK_LOST;
            }
        }
    }

    /* 5. New tentative tracks from blobs nobody claimed. */
    for (int b = 0; b < nb; b++) {
        if (blob_used[b] || blobs[b].area < t->spawn_area) {
            continue;
        }
        /* A fragment: within about half a person of a confirmed track, or inside the box
         * of the blob it took this frame. */
        bool fragment = false;
        float near = 0.6f * t->p.person_px;
        for (int i = 0; i < nt && !fragment; i++) {
            const struct sk_trk *k = &t->slots[i];
            float dx = blobs[b].cx - k->x, dy = blobs[b].cy - k->y;
            bool in_its_box = (k->matched || k->merged) && blobs[b].cx >= (float)k->bx &&
                              blobs[b].cx <= (float)(k->bx + k->bw) &&
                              blobs[b].cy >= (float)k->by && blobs[b].cy <= (float)(k->by + k->bh);
            fragment =
                    k->state == SK_TRK_CONFIRMED && (dx * dx + dy * dy < near * near || in_its_box);
        }
        /* A shopper stepping out of a group (a blob that holds a confirmed track) was where
         * the group is: the new track's way starts there, so leaving a group standing on
         * the far side of a line is a crossing. */
        const struct sk_trk *parent = NULL;
        float split = 1.5f * t->p.person_px, best = split * split;
        for (int i = 0; i < nt && !fragment; i++) {
            const struct sk_trk *k = &t->slots[i];
            float dx = blobs[b].cx - k->x, dy = blobs[b].cy - k->y;
            if (k->state == SK_TRK_CONFIRMED && (k->matched || k->merged) &&
                dx * dx + dy * dy < best) {
                best = dx * dx + dy * dy;
                parent = k;
            }
        }
        for (int i = 0; i < nt && !fragment; i++) {
            struct sk_trk *k = &t->slots[i];
            if (k->state == SK_TRK_FREE) {
                float px0 = parent ? parent->x : blobs[b].cx,
                      py0 = parent ? parent->y : blobs[b].cy;
                memset(k, 0, sizeof(*k));
                k->state = SK_TRK_TENTATIVE;
                k->x = blobs[b].cx;
                k->y = blobs[b].cy;
                k->birth_x = px0;
                k->birth_y = py0;
                k->t_us = k->birth_us = k->seen_us = t_us;
                k->bx = blobs[b].x;
                k->by = blobs[b].y;
                k->bw = blobs[b].w;
                k->bh = blobs[b].h;
                k->hits = 1;
                k->matched = true;
                if (t->p.confirm_hits <= 1 && t->p.confirm_s <= 0) {
                    k->state = SK_TRK_CONFIRMED;
                    k->id = t->next_id++;
                    k->born = true;
                }
                break;
            }
        }
    }
}
