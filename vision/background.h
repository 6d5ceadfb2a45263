/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the adaptive background model (the default; MOG2 is the other). */
#ifndef SK_BACKGROUND_H
#define SK_BACKGROUND_H

#include <stdbool.h>
#include <stdint.h>

struct sk_bg;

/* width x height luma; history in frames; see background.c for the model. */
int vision_bg_new(int width,
                  int height,
                  int history,
                  float var_threshold,
                  bool shadows,
                  float tau,
                  struct sk_bg **ret);
void vision_bg_free(struct sk_bg *b);
/* mask: 255 foreground, 127 shadow (when enabled), 0 background. hold (or NULL): pixels
 * that are not 0 there do not learn this frame (where confirmed tracks are). */
int vision_bg_apply(struct sk_bg *b, const uint8_t *img, uint8_t *mask, const uint8_t *hold);

/* One connected component: the pixels whose label is `label` inside the box (x, y, w, h) of
 * the label image `labels` (the model's size, row by row). */
struct vision_bg_comp {
    const int32_t *labels;
    int32_t label;
    int x, y, w, h;
};

/*
 * The outline of one connected component: the mean gradient along it in the frame (ret_frame) and
 * in the learnt background at the same light (ret_model). Returns the outline's length in pixels.
 * Something really there has its edges in the frame; a ghost (the floor where something the model
 * learnt has gone) has them in the model only.
 */
int vision_bg_outline(const struct sk_bg *b,
                      const uint8_t *img,
                      const struct vision_bg_comp *c,
                      float *ret_frame,
                      float *ret_model);
/* Learns the frame at once under that component (a ghost becomes floor). */
void vision_bg_absorb(struct sk_bg *b, const uint8_t *img, const struct vision_bg_comp *c);
/* The light gain of the latest frame against the learnt reference. */
float vision_bg_gain(const struct sk_bg *b);

#endif
