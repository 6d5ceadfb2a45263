/* SPDX-License-Identifier: MIT */
/* The file camera: replays a recorded clip through OpenCV videoio (optional build). It lives in
 * vision/ because its decoding is OpenCV's; built as the module camera-file.so
 * (storekeeper/module.h), which the camera table loads when a camera uses it. */
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <unistd.h>

#include "sk_build_info.h"
extern "C" {
#include "storekeeper/camera.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/module.h"
}

/*
 * For development, replay and tests only: videoio brings FFmpeg and GStreamer, so the Pi
 * package is built without it (SK_WITH_VIDEOIO=OFF). Every OpenCV call sits inside a try
 * block: no exception crosses into C. Frames keep the clip's size; the vision pipeline
 * scales them. Media time comes from the frame index and the clip's rate, so a replay gives
 * the same times on any machine.
 */

namespace
{

struct file_cam {
    cv::VideoCapture cap;
    cv::Mat bgr, grey;
    double fps = 0;
    bool realtime = false, loop = false;
    uint64_t n = 0;     /* frames delivered */
    uint64_t index = 0; /* frame index in the clip (restarts when looping) */
    uint64_t loops = 0, clip_frames = 0;
    int64_t start_us = 0;
};

int file_open(const struct sk_camera_params *p, void **ret_priv)
{
    if (!p->device || !p->device[0]) {
        return -EINVAL;
    }
    if (access(p->device, R_OK) != 0) {
        return -errno;
    }
    file_cam *c = new (std::nothrow) file_cam;
    if (!c) {
        return -ENOMEM;
    }
    try {
        /* Libraries do not log: OpenCV's own warnings (GStreamer, FFmpeg) would reach
         * stderr; the caller reports what failed. */
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        if (!c->cap.open(p->device, cv::CAP_ANY)) {
            delete c;
            return -ENOENT;
        }
        c->fps = c->cap.get(cv::CAP_PROP_FPS);
        if (p->fps > 0 && !(c->fps > 0)) {
            c->fps = p->fps;
        }
        if (!(c->fps > 0 && c->fps < 1000)) {
            c->fps = 25;
        }
    } catch (...) {
        delete c;
        return SK_ECAMERA;
    }
    c->realtime = p->realtime;
    c->loop = p->loop;
    *ret_priv = c;
    return 0;
}

int file_capture(void *priv, int timeout_ms, struct sk_frame *f)
{
    file_cam *c = static_cast<file_cam *>(priv);
    (void)timeout_ms;
    try {
        if (c->realtime) {
            int64_t now = sk_now_mono_us();
            if (c->n == 0) {
                c->start_us = now;
            }
            int64_t due = c->start_us + (int64_t)((double)c->n * 1e6 / c->fps);
            if (due > now) {
                struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000L};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
            }
        }
        if (!c->cap.read(c->bgr) || c->bgr.empty()) {
            if (!c->loop || c->index == 0) {
                return -ENODATA;
            }
            c->clip_frames = c->index;
            c->index = 0;
            c->loops++;
            c->cap.set(cv::CAP_PROP_POS_FRAMES, 0);
            if (!c->cap.read(c->bgr) || c->bgr.empty()) {
                return -ENODATA;
            }
        }
        if (c->bgr.channels() == 1) {
            c->grey = c->bgr;
        } else if (c->bgr.channels() == 3) {
            cv::cvtColor(c->bgr, c->grey, cv::COLOR_BGR2GRAY);
        } else {
            cv::cvtColor(c->bgr, c->grey, cv::COLOR_BGRA2GRAY);
        }
        if (c->grey.depth() != CV_8U) {
            return SK_ECAMERA;
        }
    } catch (...) {
        return SK_ECAMERA;
    }
    uint64_t media_index = c->loops * c->clip_frames + c->index;
    f->data = c->grey.data;
    f->width = c->grey.cols;
    f->height = c->grey.rows;
    f->stride = (int)c->grey.step[0];
    f->seq = c->n;
    f->mono_us = sk_now_mono_us();
    f->t_us = (int64_t)((double)media_index * 1e6 / c->fps);
    c->n++;
    c->index++;
    return 0;
}

void file_close(void *priv)
{
    file_cam *c = static_cast<file_cam *>(priv);
    try {
        delete c;
    } catch (...) {
    }
}

const struct sk_camera_backend backend = {
        "file", file_open, file_capture, file_close, nullptr, "OpenCV videoio " CV_VERSION,
};

const char *file_version(void)
{
    static char v[32];
    try {
        std::snprintf(v, sizeof(v), "%s", cv::getVersionString().c_str());
    } catch (...) {
        return "unknown";
    }
    return v;
}

} // namespace

/* The one symbol the module exports (built with hidden visibility). */
extern "C" __attribute__((visibility("default"))) const struct sk_module sk_module = {
        SK_MODULE_ABI, sizeof(struct sk_module), "camera-file", SK_VERSION, &backend, nullptr,
        file_version,
};
