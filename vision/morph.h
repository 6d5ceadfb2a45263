/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the foreground mask's clean-up (open, then close) on packed bits. */
#ifndef SK_MORPH_H
#define SK_MORPH_H

#include <stdint.h>

struct vision_morph;

/* A workspace for width x height masks: opening with an open_k square, closing with a
 * close_k ellipse (odd sizes; 1: none), as OpenCV's morphologyEx with its default border. */
int vision_morph_new(int width, int height, int open_k, int close_k, struct vision_morph **ret);
void vision_morph_free(struct vision_morph *m);
/* In place: keeps pixels above 200 (foreground, not shadow) as 255, the rest 0; then opens
 * (drops specks) and closes (joins a head to its shoulders). */
void vision_morph_clean(struct vision_morph *m, uint8_t *mask);

#endif
