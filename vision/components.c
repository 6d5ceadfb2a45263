/* SPDX-License-Identifier: MIT */
/* Connected components of the foreground mask: runs of each row joined by union-find. */
#include "components.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * The mask is mostly floor: a frame at 320 x 240 holds a few dozen runs of foreground. So the
 * work goes by runs, not pixels: each row is scanned eight bytes at a time for its runs, a
 * run is joined (union-find) to the runs of the row above it touches, diagonals included (8-
 * connected), and the union keeps the earlier run as the root, so a component's root is its
 * first run and numbering the roots in run order numbers the components by their first pixel.
 * Areas, boxes and centres are summed by run; only the label image is written per pixel, and
 * only where the runs are (and cleared where the last frame's were). Nothing is allocated per
 * frame.
 */

struct run {
    int32_t x0, x1; /* [x0, x1) */
    int32_t y;
    int32_t parent; /* union-find over runs */
    int32_t label;  /* of its component, once numbered */
};

/* A component's sums while it is counted. */
struct acc {
    int64_t sum_x2; /* twice the sum of x */
    int64_t sum_y;
    int32_t x0, y0, x1, y1, area;
};

struct vision_cc {
    int w, h;
    int32_t *labels;
    struct run *runs;
    size_t max_runs;
    int32_t n_runs; /* of the latest frame: where its label image is not 0 */
    struct acc *acc;
    int max_comps;
};

int vision_cc_new(int width, int height, int max_comps, struct vision_cc **ret)
{
    if (width < 1 || height < 1 || max_comps < 1) {
        return -EINVAL;
    }
    struct vision_cc *cc = calloc(1, sizeof(*cc));
    if (!cc) {
        return -ENOMEM;
    }
    cc->w = width;
    cc->h = height;
    /* a row holds at most one run every other pixel */
    cc->max_runs = (size_t)(width / 2 + 1) * (size_t)height;
    cc->max_comps = max_comps;
    cc->labels = calloc((size_t)width * (size_t)height, sizeof(int32_t));
    cc->runs = malloc(cc->max_runs * sizeof(struct run));
    cc->acc = malloc((size_t)max_comps * sizeof(struct acc));
    if (!cc->labels || !cc->runs || !cc->acc) {
        vision_cc_free(cc);
        return -ENOMEM;
    }
    *ret = cc;
    return 0;
}

void vision_cc_free(struct vision_cc *cc)
{
    if (!cc) {
        return;
    }
    free(cc->labels);
    free(cc->runs);
    free(cc->acc);
    free(cc);
}

const int32_t *vision_cc_labels(const struct vision_cc *cc)
{
    return cc->labels;
}

static int32_t find(struct run *r, int32_t i)
{
    int32_t root = i;
    while (r[root].parent != root) {
        root = r[root].parent;
    }
    while (r[i].parent != root) { /* path compression */
        int32_t next = r[i].parent;
        r[i].parent = root;
        i = next;
    }
    return root;
}

/* The earlier run stays the root: a component's root is its first run. */
static void unite(struct run *r, int32_t a, int32_t b)
{
    a = find(r, a);
    b = find(r, b);
    if (a < b) {
        r[b].parent = a;
    } else if (b < a) {
        r[a].parent = b;
    }
}

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The first x >= from in the row whose byte is set (not 0), or w. */
static int next_set(const uint8_t *row, int x, int w)
{
    while (x + 8 <= w) {
        uint64_t word;
        memcpy(&word, row + x, sizeof(word));
        if (word != 0) {
            break;
        }
        x += 8;
    }
    while (x < w && row[x] == 0) {
        x++;
    }
    return x;
}

/* The first x >= from in the row whose byte is 0, or w. */
static int next_clear(const uint8_t *row, int x, int w)
{
    while (x + 8 <= w) {
        uint64_t word;
        memcpy(&word, row + x, sizeof(word));
        if ((word - ONES) & ~word & HIGHS) { /* a byte of it is 0 */
            break;
        }
        x += 8;
    }
    while (x < w && row[x] != 0) {
        x++;
    }
    return x;
}

int vision_cc_label(struct vision_cc *cc, const uint8_t *mask, struct vision_comp *ret, int max)
{
    const int w = cc->w, h = cc->h;
    struct run *runs = cc->runs;
    /* The label image is 0 but where the last frame's runs were. */
    for (int32_t i = 0; i < cc->n_runs; i++) {
        memset(cc->labels + (size_t)runs[i].y * (size_t)w + (size_t)runs[i].x0, 0,
               (size_t)(runs[i].x1 - runs[i].x0) * sizeof(int32_t));
    }
    int32_t n = 0;
    int32_t prev0 = 0, prev1 = 0; /* the runs of the row above: [prev0, prev1) */
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * (size_t)w;
        int32_t row0 = n;
        int32_t p = prev0;
        for (int x = next_set(row, 0, w); x < w; x = next_set(row, x, w)) {
            int x1 = next_clear(row, x, w);
            struct run *r = &runs[n];
            r->x0 = x;
            r->x1 = x1;
            r->y = y;
            r->parent = n;
            /* The runs above that touch [x, x1), corners included. */
            while (p < prev1 && runs[p].x1 < x) {
                p++;
            }
            for (int32_t q = p; q < prev1 && runs[q].x0 <= x1; q++) {
                unite(runs, q, n);
            }
            n++;
            x = x1;
        }
        prev0 = row0;
        prev1 = n;
    }
    /* Number the roots in run order (a root comes before the rest of its component), sum
     * each component's runs, write the label image where the runs are. */
    cc->n_runs = n;
    int found = 0;
    const int keep = max < cc->max_comps ? max : cc->max_comps;
    for (int32_t i = 0; i < n; i++) {
        struct run *r = &runs[i];
        int32_t root = find(runs, i);
        if (root == i) {
            r->label = ++found;
        } else {
            r->label = runs[root].label;
        }
        int32_t *l = cc->labels + (size_t)r->y * (size_t)w;
        for (int x = r->x0; x < r->x1; x++) {
            l[x] = r->label;
        }
        if (r->label > keep) {
            continue;
        }
        struct acc *a = &cc->acc[r->label - 1];
        int32_t len = r->x1 - r->x0;
        if (root == i) {
            *a = (struct acc){0, 0, r->x0, r->y, r->x1, r->y + 1, 0};
        }
        a->sum_x2 += (int64_t)len * (r->x0 + r->x1 - 1);
        a->sum_y += (int64_t)len * r->y;
        a->area += len;
        a->x0 = r->x0 < a->x0 ? r->x0 : a->x0;
        a->x1 = r->x1 > a->x1 ? r->x1 : a->x1;
        a->y1 = r->y + 1;
    }
    for (int c = 0; c < keep && c < found; c++) {
        const struct acc *a = &cc->acc[c];
        ret[c] = (struct vision_comp){a->x0,
                                      a->y0,
                                      a->x1 - a->x0,
                                      a->y1 - a->y0,
                                      a->area,
                                      (float)((double)a->sum_x2 / 2.0 / (double)a->area),
                                      (float)((double)a->sum_y / (double)a->area)};
    }
    return found;
}
