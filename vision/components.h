/* SPDX-License-Identifier: MIT */
/* Internal to vision/: connected components of the foreground mask, by runs. */
#ifndef SK_COMPONENTS_H
#define SK_COMPONENTS_H

#include <stdint.h>

/* One component: its box, area (pixels) and centre. */
struct vision_comp {
    int x, y, w, h, area;
    float cx, cy;
};

struct vision_cc;

/* A workspace for width x height masks (its label image and runs), made once; the stats of
 * up to max_comps components. */
int vision_cc_new(int width, int height, int max_comps, struct vision_cc **ret);
void vision_cc_free(struct vision_cc *cc);
/*
 * 8-connected components of the pixels of mask that are not 0, numbered in the order of their
 * first pixel, row by row. Fills up to max of them (and max_comps) into ret and returns how
 * many there are (may exceed max).
 */
int vision_cc_label(struct vision_cc *cc, const uint8_t *mask, struct vision_comp *ret, int max);
/* The label image of the latest vision_cc_label (width x height, row by row): the component
 * at ret[i] has label i + 1 (and so on past max), background 0. */
const int32_t *vision_cc_labels(const struct vision_cc *cc);

#endif
