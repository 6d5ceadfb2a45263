/* SPDX-License-Identifier: MIT */
/* The C face of the one C++ file that calls OpenCV (core, imgproc, video), which is the module
 * vision-opencv.so: its function table, and the calls the pipeline makes through it. Internal. */
#ifndef SK_CV_SHIM_H
#define SK_CV_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * OpenCV 4 has no usable C API, so the vision pipeline (C) reaches it through these calls.
 * Every function catches every exception and returns SK_EVISION (or -ENOMEM) instead; no
 * C++ exception crosses this line. A workspace belongs to one thread. Images are 8-bit,
 * one channel, rows of `width` bytes unless a stride is given.
 *
 * cv_shim.cpp is built as a module (storekeeper/module.h), so that a daemon without cameras
 * never maps OpenCV: cv_load.c loads it the first time a workspace is made and forwards the
 * vision_cv_* calls below through its table. vision_cv_new fails with SK_ENOMODULE or
 * SK_EMODULE when the module is missing or broken.
 */
struct sk_cv;

/* The MOG2 background model's parameters (OpenCV's createBackgroundSubtractorMOG2). */
struct vision_cv_mog2 {
    int history; /* frames */
    double var_threshold;
    bool shadows;
    double shadow_tau;
};

/* A workspace for width x height processing, with a MOG2 background model unless mog2 is
 * NULL. */
int vision_cv_new(int width, int height, const struct vision_cv_mog2 *mog2, struct sk_cv **ret_cv);
void vision_cv_free(struct sk_cv *cv);

/* Area-averaging downscale (or bilinear upscale) of src into the workspace's size. */
int vision_cv_resize(
        struct sk_cv *cv, const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst);
/* Background subtraction: mask gets 255 (foreground), 127 (shadow) or 0. learning_rate < 0:
 * automatic (1 / history). */
int vision_cv_background(struct sk_cv *cv, const uint8_t *img, uint8_t *mask, double learning_rate);
/* cv::getVersionString() of the library loaded at run time (loads the module), or NULL when
 * the module is missing or broken; static string. */
const char *vision_cv_version(void);

/* The module's table: the calls above, in their order. */
struct vision_cv_ops {
    int (*cv_new)(int width, int height, const struct vision_cv_mog2 *mog2, struct sk_cv **ret_cv);
    void (*cv_free)(struct sk_cv *cv);
    int (*resize)(struct sk_cv *cv, const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst);
    int (*background)(struct sk_cv *cv, const uint8_t *img, uint8_t *mask, double learning_rate);
};

#ifdef __cplusplus
}
#endif

#endif
