/* SPDX-License-Identifier: MIT */
/* The only C++ of the vision pipeline: OpenCV core, imgproc and video calls behind C, built
 * as the module vision-opencv.so (storekeeper/module.h) that cv_load.c loads. */
#include "cv_shim.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/background_segm.hpp>

#include "sk_build_info.h"
extern "C" {
#include "storekeeper/error.h"
#include "storekeeper/module.h"
}

/*
 * Each entry point wraps its body in try/catch(...) and turns any exception (cv::Exception,
 * std::bad_alloc, anything) into an error code. Mats that wrap caller memory are headers
 * only (no copy); the workspace keeps its scratch Mats so a frame allocates nothing.
 */

struct sk_cv {
    int w, h;
    cv::Ptr<cv::BackgroundSubtractorMOG2> mog2;
    cv::Mat scaled;
};

static int shim_new(int width, int height, const struct vision_cv_mog2 *mog2, struct sk_cv **ret_cv)
{
    sk_cv *cv = new (std::nothrow) sk_cv;
    if (!cv) {
        return -ENOMEM;
    }
    try {
        /* Every OpenCV call runs on the camera's own thread: one thread per camera is the
         * design (a Pi has four cores for all cameras and the rest), OpenCV's worker pool
         * would oversubscribe them and its frames would race with the next camera's. */
        cv::setNumThreads(0);
        cv->w = width;
        cv->h = height;
        if (!mog2) {
            *ret_cv = cv;
            return 0;
        }
        cv->mog2 = cv::createBackgroundSubtractorMOG2(mog2->history, mog2->var_threshold,
                                                      mog2->shadows);
        cv->mog2->setShadowThreshold(mog2->shadow_tau);
        cv->mog2->setShadowValue(127);
        /* Three Gaussians per pixel: a floor, its lit and shaded states; five cost more and
         * learn passing shoppers into the background faster. */
        cv->mog2->setNMixtures(3);
    } catch (...) {
        delete cv;
        return SK_EVISION;
    }
    *ret_cv = cv;
    return 0;
}

static void shim_free(struct sk_cv *cv)
{
    try {
        delete cv;
    } catch (...) {
    }
}

static int
shim_resize(struct sk_cv *cv, const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst)
{
    try {
        cv::Mat in(sh, sw, CV_8UC1, const_cast<uint8_t *>(src), (size_t)sstride);
        cv::Mat out(cv->h, cv->w, CV_8UC1, dst);
        int k = std::min(sw / cv->w, sh / cv->h);
        if (sw == cv->w && sh == cv->h) {
            in.copyTo(out);
        } else if (k >= 2 && (sw % cv->w || sh % cv->h)) {
            /* OpenCV's area averaging is fast for integer factors only (768x576 to 320x240
             * costs five times 640x480 to 320x240): average by the integer part, then
             * interpolate the rest, which is less than a factor of two. */
            cv::resize(in, cv->scaled, cv::Size(sw / k, sh / k), 0, 0, cv::INTER_AREA);
            cv::resize(cv->scaled, out, out.size(), 0, 0, cv::INTER_LINEAR);
        } else {
            /* Exact integer factors average; less than two interpolates (768x576 to
             * 640x480), and so does enlarging. */
            bool exact = k >= 1 && sw % cv->w == 0 && sh % cv->h == 0;
            cv::resize(in, out, out.size(), 0, 0, exact ? cv::INTER_AREA : cv::INTER_LINEAR);
        }
        return 0;
    } catch (...) {
        return SK_EVISION;
    }
}

static int
shim_background(struct sk_cv *cv, const uint8_t *img, uint8_t *mask, double learning_rate)
{
    try {
        cv::Mat in(cv->h, cv->w, CV_8UC1, const_cast<uint8_t *>(img));
        cv::Mat out(cv->h, cv->w, CV_8UC1, mask);
        if (!cv->mog2) {
            return SK_EVISION;
        }
        cv->mog2->apply(in, out, learning_rate);
        if (out.data != mask) {
            return SK_EVISION; /* OpenCV reallocated: size or type mismatch */
        }
        return 0;
    } catch (...) {
        return SK_EVISION;
    }
}

static const char *shim_version(void)
{
    /* CV_VERSION would be the headers'; the library loaded may be another build. */
    static char v[32];
    try {
        std::snprintf(v, sizeof(v), "%s", cv::getVersionString().c_str());
    } catch (...) {
        std::snprintf(v, sizeof(v), "unknown");
    }
    return v;
}

static const struct vision_cv_ops ops = {
        shim_new,
        shim_free,
        shim_resize,
        shim_background,
};

/* The one symbol the module exports (built with hidden visibility). */
extern "C" __attribute__((visibility("default"))) const struct sk_module sk_module = {
        SK_MODULE_ABI, sizeof(struct sk_module), "vision-opencv", SK_VERSION, nullptr, &ops,
        shim_version,
};
