/* SPDX-License-Identifier: MIT */
/* The adaptive background model: per-pixel Gaussian, global light gain, selective update. */
#include "background.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * Why not MOG2 alone: MOG2 learns every pixel at the same rate, so a shopper who stands at a
 * shelf for a few seconds fades into the background exactly when we need to know who is
 * there, and a light that changes over the whole floor at once reads as foreground until
 * each pixel's mixture catches up. This model fixes both, and costs a fraction of MOG2:
 *
 *  - Light: each frame, the median of frame / background over a grid of pixels that were
 *    background in the previous frame gives one gain for the whole image. Pixels are
 *    compared with gain * mean, so drifting daylight or a dimmed lamp is no foreground.
 *  - Each pixel keeps a mean and a variance of its brightness under reference light.
 *    Foreground when (pixel - gain * mean)^2 > var_threshold * variance (the variance has a
 *    floor, so sensor noise and compression never make a track).
 *  - Selective update: background pixels learn at 1/history; under foreground pixels only
 *    the mean moves, 10 times slower, so a standing shopper stays foreground for minutes
 *    (about 8 at the defaults), while a parked cart becomes floor eventually. Where the
 *    tracker holds a confirmed track (its box, given as `hold`) nothing learns at all: a
 *    shopper standing still at a shelf, whose clothing matches the floor in places, is not
 *    eaten from those places inwards until the track splits. When the track ends, the pixels
 *    learn again.
 *  - Shadows (optional): a pixel darker than the background but at least tau of it is marked
 *    shadow (127). On grey frames that also matches dark clothing (see docs/vision.md).
 */

#define VAR_MIN       9.0f /* (3 luma)^2 */
#define VAR_INIT      36.0f
#define FG_SLOWDOWN   10.0f
#define GAIN_STEP     8 /* gain sampling grid, pixels */
#define GAIN_BINS     256
#define GAIN_MIN      0.4f
#define GAIN_MAX      2.5f
#define WARMUP_FRAMES 20

struct sk_bg {
    int w, h;
    float alpha, var_threshold, tau;
    bool shadows;
    float *mean, *var;
    uint8_t *prev_mask;
    uint8_t *zeros; /* the hold when none is given */
    float gain;
    uint64_t frames;
};

int vision_bg_new(
        int w, int h, int history, float var_threshold, bool shadows, float tau, struct sk_bg **ret)
{
    if (w < 1 || h < 1 || history < 1 || var_threshold <= 0 || tau <= 0 || tau >= 1) {
        return -EINVAL;
    }
    struct sk_bg *b = calloc(1, sizeof(*b));
    size_t n = (size_t)w * (size_t)h;
    if (b) {
        b->mean = malloc(n * sizeof(float));
        b->var = malloc(n * sizeof(float));
        b->prev_mask = calloc(n, 1);
        b->zeros = calloc(n, 1);
    }
    if (!b || !b->mean || !b->var || !b->prev_mask || !b->zeros) {
        vision_bg_free(b);
        return -ENOMEM;
    }
    b->w = w;
    b->h = h;
    b->alpha = 1.0f / (float)history;
    b->var_threshold = var_threshold;
    b->shadows = shadows;
    b->tau = tau;
    b->gain = 1.0f;
    *ret = b;
    return 0;
}

void vision_bg_free(struct sk_bg *b)
{
    if (!b) {
        return;
    }
    free(b->mean);
    free(b->var);
    free(b->prev_mask);
    free(b->zeros);
    free(b);
}

/* Median of frame / (reference mean) over background pixels of a sparse grid. */
static float estimate_gain(const struct sk_bg *b, const uint8_t *img)
{
    uint32_t hist[GAIN_BINS] = {0};
    uint32_t total = 0;
    const float scale = (float)GAIN_BINS / (GAIN_MAX - GAIN_MIN);
    for (int y = GAIN_STEP / 2; y < b->h; y += GAIN_STEP) {
        for (int x = GAIN_STEP / 2; x < b->w; x += GAIN_STEP) {
            size_t i = (size_t)y * (size_t)b->w + (size_t)x;
            if (b->prev_mask[i] || b->mean[i] < 16.0f || img[i] < 4 || img[i] > 250) {
                continue;
            }
            float r = (float)img[i] / b->mean[i];
            int bin = (int)((r - GAIN_MIN) * scale);
            if (bin >= 0 && bin < GAIN_BINS) {
                hist[bin]++;
                total++;
            }
        }
    }
    if (total < 32) {
        return b->gain; /* the floor is hidden: keep the last estimate */
    }
    uint32_t acc = 0;
    for (int i = 0; i < GAIN_BINS; i++) {
        acc += hist[i];
        if (acc * 2 >= total) {
            return GAIN_MIN + ((float)i + 0.5f) / scale;
        }
    }
    return b->gain;
}

int vision_bg_apply(struct sk_bg *b, const uint8_t *img, uint8_t *mask, const uint8_t *hold)
{
    size_t n = (size_t)b->w * (size_t)b->h;
    if (b->frames == 0) {
        for (size_t i = 0; i < n; i++) {
            b->mean[i] = img[i];
            b->var[i] = VAR_INIT;
        }
        memset(mask, 0, n);
        b->frames++;
        return 0;
    }
    float g = estimate_gain(b, img);
    b->gain = g;
    float inv_g = 1.0f / g;
    /* Learn fast while the model is young, then at 1/history. */
    float alpha = b->frames < WARMUP_FRAMES ? 1.0f / (float)(b->frames + 1) : b->alpha;
    if (alpha < b->alpha) {
        alpha = b->alpha;
    }
    float alpha_fg = alpha / FG_SLOWDOWN;
    const float thr = b->var_threshold;
    const float tau = b->tau;
    const uint8_t shadow_out = b->shadows ? 127 : 255;
    /* One pass without branches or calls over plain arrays, so that the compiler turns it
     * into vector code (CMakeLists.txt: -ftree-vectorize for this file; four pixels an
     * instruction on SSE2 and NEON): the same float operations in the same order as one
     * pixel at a time, so the masks are the same bit for bit. */
    float *restrict mean = b->mean;
    float *restrict vars = b->var;
    uint8_t *restrict out = mask;
    const uint8_t *restrict in = img;
    const uint8_t *restrict keep = hold ? hold : b->zeros;
    for (size_t i = 0; i < n; i++) {
        float v = (float)in[i] * inv_g; /* in reference light */
        float m = mean[i];
        float d = v - m;
        float var = vars[i];
        float d2 = d * d;
        int fg = d2 > thr * var;
        /* Only the mean creeps towards a foreground pixel: a variance that learnt the
         * shopper would widen the threshold and swallow them much sooner. Where a confirmed
         * shopper is (keep) nothing learns. A rate of 0 leaves the value as it was. */
        float rate = fg ? alpha_fg : alpha;
        float vrate = fg ? 0.0f : alpha;
        rate = keep[i] ? 0.0f : rate;
        vrate = keep[i] ? 0.0f : vrate;
        mean[i] = m + rate * d;
        float nvar = var + vrate * (d2 - var);
        vars[i] = nvar < VAR_MIN ? VAR_MIN : nvar; /* unchanged ones are above it already */
        uint8_t shade = ((d < 0) & (v >= tau * m)) ? shadow_out : 255;
        out[i] = fg ? shade : 0;
    }
    memcpy(b->prev_mask, mask, n);
    b->frames++;
    return 0;
}

/* Gradient magnitude at (x, y) over a 5-pixel span: the outline a morphological close drew
 * lies a pixel or two off the true edge, and the span still sees it. */
static float grad_u8(const uint8_t *p, int w, int h, int x, int y)
{
    int x0 = x >= 2 ? x - 2 : 0, x1 = x + 2 < w ? x + 2 : w - 1;
    int y0 = y >= 2 ? y - 2 : 0, y1 = y + 2 < h ? y + 2 : h - 1;
    return (float)(abs((int)p[(size_t)y * (size_t)w + (size_t)x1] -
                       (int)p[(size_t)y * (size_t)w + (size_t)x0]) +
                   abs((int)p[(size_t)y1 * (size_t)w + (size_t)x] -
                       (int)p[(size_t)y0 * (size_t)w + (size_t)x]));
}

static float grad_f(const float *p, int w, int h, int x, int y)
{
    int x0 = x >= 2 ? x - 2 : 0, x1 = x + 2 < w ? x + 2 : w - 1;
    int y0 = y >= 2 ? y - 2 : 0, y1 = y + 2 < h ? y + 2 : h - 1;
    return fabsf(p[(size_t)y * (size_t)w + (size_t)x1] - p[(size_t)y * (size_t)w + (size_t)x0]) +
           fabsf(p[(size_t)y1 * (size_t)w + (size_t)x] - p[(size_t)y0 * (size_t)w + (size_t)x]);
}

int vision_bg_outline(const struct sk_bg *b,
                      const uint8_t *img,
                      const struct vision_bg_comp *c,
                      float *ret_frame,
                      float *ret_model)
{
    const int w = b->w, h = b->h;
    const int32_t *labels = c->labels, label = c->label;
    const int bx = c->x, by = c->y, bw = c->w, bh = c->h;
    int x0 = bx < 1 ? 1 : bx, y0 = by < 1 ? 1 : by;
    int x1 = bx + bw > w - 1 ? w - 1 : bx + bw, y1 = by + bh > h - 1 ? h - 1 : by + bh;
    float frame = 0, model = 0;
    int n = 0;
    for (int y = y0; y < y1; y++) {
        const int32_t *l = labels + (size_t)y * (size_t)w;
        for (int x = x0; x < x1; x++) {
            if (l[x] != label || (l[x - 1] == label && l[x + 1] == label && l[x - w] == label &&
                                  l[x + w] == label)) {
                continue; /* not on the outline */
            }
            frame += grad_u8(img, w, h, x, y);
            model += grad_f(b->mean, w, h, x, y) * b->gain;
            n++;
        }
    }
    *ret_frame = n ? frame / (float)n : 0;
    *ret_model = n ? model / (float)n : 0;
    return n;
}

void vision_bg_absorb(struct sk_bg *b, const uint8_t *img, const struct vision_bg_comp *c)
{
    const int w = b->w, h = b->h;
    const int32_t *labels = c->labels, label = c->label;
    const int bx = c->x, by = c->y, bw = c->w, bh = c->h;
    int x0 = bx < 0 ? 0 : bx, y0 = by < 0 ? 0 : by;
    int x1 = bx + bw > w ? w : bx + bw, y1 = by + bh > h ? h : by + bh;
    float inv_g = 1.0f / b->gain;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if (labels[i] == label) {
                b->mean[i] = (float)img[i] * inv_g;
                b->var[i] = VAR_INIT;
            }
        }
    }
}

float vision_bg_gain(const struct sk_bg *b)
{
    return b->gain;
}
