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
/* The light gain of the latest frame against the learnt reference. */
float vision_bg_gain(const struct sk_bg *b);

#endif
