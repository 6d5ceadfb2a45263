/* SPDX-License-Identifier: MIT */
/* Plane-to-plane maps (homographies): a camera's image to the store's floor plan and back. */
#ifndef STOREKEEPER_HOMOGRAPHY_H
#define STOREKEEPER_HOMOGRAPHY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A homography maps points of one plane to another through a 3x3 matrix, up to scale: here an
 * overhead camera's image (processing-size pixels) to the floor (metres) and back. Four or more
 * point pairs, no three of either side on one line, determine it (the direct linear transform,
 * least squares beyond four, with both sides normalised first so metres and pixels weigh alike).
 */
struct sk_homography {
    double m[9]; /* row-major, m[8] = 1 */
};

/*
 * Solves the map taking src[i] to dst[i] (n pairs, x and y interleaved). Returns 0, -EINVAL for
 * fewer than four pairs, -EDOM when the points do not determine it (three of the first four on
 * one line, or all of them nearly so).
 */
int sk_homography_solve(const double *src, const double *dst, size_t n, struct sk_homography *ret);
/* The inverse map. Returns 0, or -EDOM for a singular one. */
int sk_homography_invert(const struct sk_homography *h, struct sk_homography *ret);
/* Maps (x, y). False when the point maps to infinity (behind the camera's horizon). */
bool sk_homography_apply(const struct sk_homography *h, double x, double y, double *rx, double *ry);
/* A top-down camera: the image centre above floor point (cx, cy) metres, image x along the floor
 * direction rotation_deg (counter-clockwise from the floor's x axis), metres_per_px. */
void sk_homography_overhead(double cx,
                            double cy,
                            double rotation_deg,
                            double metres_per_px,
                            int width,
                            int height,
                            struct sk_homography *ret);
/*
 * A mounted pinhole camera: the lens height_m above floor point (x, y), the picture's x axis
 * along rotation_deg as above, tilted tilt_deg from straight down towards the picture's top edge
 * (0: sk_homography_overhead with height_m / focal_px metres per pixel), focal_px the focal
 * length in pixels of the width x height picture. Writes the picture-to-floor map. Returns 0,
 * -EINVAL for a height, focal length or size not above 0 or a negative tilt, -EDOM when the
 * picture's top edge reaches the horizon.
 */
int sk_homography_mount(double x,
                        double y,
                        double rotation_deg,
                        double height_m,
                        double focal_px,
                        double tilt_deg,
                        int width,
                        int height,
                        struct sk_homography *ret);

#endif
