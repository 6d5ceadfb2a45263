/* SPDX-License-Identifier: MIT */
/* The libcamera shim: the Pi camera stack behind the C camera interface, built when found as
 * the module camera-libcamera.so (storekeeper/module.h), loaded when a camera uses it. */
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <libcamera/libcamera.h>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

#include "sk_build_info.h"
extern "C" {
#include "storekeeper/camera.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/module.h"
}

/*
 * DESIGN
 * libcamera is C++ and calls back from its own thread. The shim keeps that contained: the
 * completion callback only moves the finished request into a mailbox under a mutex; the
 * camera thread (our capture) takes the newest one, copies its luma (Y plane of YUV420, or
 * R8), re-queues every request it took, and returns. Older completed requests are re-queued
 * unread: those are frames the pipeline could not keep up with, visible as gaps in seq.
 *
 * libcamera allows one CameraManager per process, so every camera shares one, reference
 * counted. Nothing here throws across the C boundary: every entry point catches.
 */

namespace
{

std::mutex mgr_lock;
std::unique_ptr<libcamera::CameraManager> mgr;
int mgr_users = 0;

int mgr_get(libcamera::CameraManager **ret)
{
    std::lock_guard<std::mutex> g(mgr_lock);
    if (!mgr) {
        /* libcamera writes its own log to stderr, which would interleave with ours; we
         * return its failures as errors instead. LIBCAMERA_LOG_LEVELS brings it back. */
        if (!std::getenv("LIBCAMERA_LOG_LEVELS")) {
            libcamera::logSetTarget(libcamera::LoggingTargetNone);
        }
        auto m = std::make_unique<libcamera::CameraManager>();
        int r = m->start();
        if (r < 0) {
            return r;
        }
        mgr = std::move(m);
    }
    mgr_users++;
    *ret = mgr.get();
    return 0;
}

void mgr_put()
{
    std::lock_guard<std::mutex> g(mgr_lock);
    if (--mgr_users == 0 && mgr) {
        mgr->stop();
        mgr.reset();
    }
}

struct mapped {
    void *addr = MAP_FAILED;
    size_t len = 0;
};

struct lc_cam {
    libcamera::CameraManager *cm = nullptr;
    std::shared_ptr<libcamera::Camera> cam;
    std::unique_ptr<libcamera::CameraConfiguration> config;
    std::unique_ptr<libcamera::FrameBufferAllocator> alloc;
    std::vector<std::unique_ptr<libcamera::Request>> requests;
    std::vector<mapped> maps; /* plane 0 of each buffer, index as requests */
    libcamera::Stream *stream = nullptr;
    std::mutex lock;
    std::condition_variable cv;
    std::deque<libcamera::Request *> done;
    std::vector<uint8_t> luma;
    int width = 0, height = 0, stride = 0;
    bool acquired = false, started = false;

    void complete(libcamera::Request *req)
    {
        std::lock_guard<std::mutex> g(lock);
        done.push_back(req);
        cv.notify_one();
    }
};

void lc_teardown(lc_cam *c)
{
    if (c->started) {
        c->cam->stop();
    }
    if (c->cam) {
        c->cam->requestCompleted.disconnect(c);
    }
    for (auto &m : c->maps) {
        if (m.addr != MAP_FAILED) {
            munmap(m.addr, m.len);
        }
    }
    c->requests.clear();
    c->alloc.reset();
    if (c->acquired) {
        c->cam->release();
    }
    c->cam.reset();
    if (c->cm) {
        mgr_put();
    }
    delete c;
}

int lc_setup(lc_cam *c, const struct sk_camera_params *p)
{
    int r = mgr_get(&c->cm);
    if (r < 0) {
        c->cm = nullptr;
        return r;
    }
    auto cams = c->cm->cameras();
    if (cams.empty()) {
        return -ENOENT;
    }
    std::string id = p->device ? p->device : "";
    if (id.empty()) {
        c->cam = cams[0];
    } else if (id.size() < 3 && id.find_first_not_of("0123456789") == std::string::npos) {
        size_t idx = (size_t)std::stoul(id);
        if (idx >= cams.size()) {
            return -ENOENT;
        }
        c->cam = cams[idx];
    } else {
        c->cam = c->cm->get(id);
    }
    if (!c->cam) {
        return -ENOENT;
    }
    if ((r = c->cam->acquire()) < 0) {
        return r;
    }
    c->acquired = true;
    c->config = c->cam->generateConfiguration({libcamera::StreamRole::Viewfinder});
    if (!c->config || c->config->size() != 1) {
        return SK_ECAMERA;
    }
    libcamera::StreamConfiguration &sc = c->config->at(0);
    sc.pixelFormat = libcamera::formats::YUV420;
    sc.size.width = (unsigned)(p->width > 0 ? p->width : 640);
    sc.size.height = (unsigned)(p->height > 0 ? p->height : 480);
    sc.bufferCount = 4;
    if (c->config->validate() == libcamera::CameraConfiguration::Invalid) {
        return SK_ECAMERA;
    }
    if (sc.pixelFormat != libcamera::formats::YUV420 && sc.pixelFormat != libcamera::formats::R8) {
        return SK_ECAMERA; /* the pipeline offers no luma format */
    }
    if ((r = c->cam->configure(c->config.get())) < 0) {
        return r;
    }
    c->stream = sc.stream();
    c->width = (int)sc.size.width;
    c->height = (int)sc.size.height;
    c->stride = (int)sc.stride;
    c->luma.resize((size_t)c->width * (size_t)c->height);
    c->alloc = std::make_unique<libcamera::FrameBufferAllocator>(c->cam);
    if ((r = c->alloc->allocate(c->stream)) < 0) {
        return r;
    }
    for (const auto &buf : c->alloc->buffers(c->stream)) {
        std::unique_ptr<libcamera::Request> req = c->cam->createRequest();
        if (!req || req->addBuffer(c->stream, buf.get()) < 0) {
            return SK_ECAMERA;
        }
        const libcamera::FrameBuffer::Plane &pl = buf->planes()[0];
        mapped m;
        m.len = pl.offset + pl.length;
        m.addr = mmap(nullptr, m.len, PROT_READ, MAP_SHARED, pl.fd.get(), 0);
        if (m.addr == MAP_FAILED) {
            return -errno;
        }
        c->maps.push_back(m);
        c->requests.push_back(std::move(req));
    }
    if (c->requests.empty()) {
        return SK_ECAMERA;
    }
    c->cam->requestCompleted.connect(c, &lc_cam::complete);
    if (p->fps > 0) {
        int64_t frame_us = 1000000 / p->fps;
        libcamera::ControlList ctrls;
        ctrls.set(libcamera::controls::FrameDurationLimits,
                  libcamera::Span<const int64_t, 2>({frame_us, frame_us}));
        r = c->cam->start(&ctrls);
    } else {
        r = c->cam->start();
    }
    if (r < 0) {
        return r;
    }
    c->started = true;
    for (auto &req : c->requests) {
        if ((r = c->cam->queueRequest(req.get())) < 0) {
            return r;
        }
    }
    return 0;
}

int lc_open(const struct sk_camera_params *p, void **ret_priv)
{
    lc_cam *c = new (std::nothrow) lc_cam;
    if (!c) {
        return -ENOMEM;
    }
    int r;
    try {
        r = lc_setup(c, p);
    } catch (...) {
        r = SK_ECAMERA;
    }
    if (r < 0) {
        try {
            lc_teardown(c);
        } catch (...) {
        }
        return r;
    }
    *ret_priv = c;
    return 0;
}

int lc_capture(void *priv, int timeout_ms, struct sk_frame *f)
{
    lc_cam *c = static_cast<lc_cam *>(priv);
    try {
        std::deque<libcamera::Request *> got;
        {
            std::unique_lock<std::mutex> g(c->lock);
            if (!c->cv.wait_for(g, std::chrono::milliseconds(timeout_ms),
                                [c] { return !c->done.empty(); })) {
                return -ETIMEDOUT;
            }
            got.swap(c->done);
        }
        libcamera::Request *newest = got.back();
        int r = 0;
        if (newest->status() != libcamera::Request::RequestComplete) {
            r = SK_ECAMERA;
        } else {
            size_t idx = 0;
            while (idx < c->requests.size() && c->requests[idx].get() != newest) {
                idx++;
            }
            const libcamera::FrameBuffer *buf = newest->buffers().begin()->second;
            const libcamera::FrameMetadata &md = buf->metadata();
            const libcamera::FrameBuffer::Plane &pl = buf->planes()[0];
            if (idx >= c->maps.size() || (size_t)c->stride * (size_t)c->height > pl.length) {
                r = SK_ECAMERA;
            } else {
                const uint8_t *src = static_cast<const uint8_t *>(c->maps[idx].addr) + pl.offset;
                for (int y = 0; y < c->height; y++) {
                    std::memcpy(&c->luma[(size_t)y * (size_t)c->width],
                                src + (size_t)y * (size_t)c->stride, (size_t)c->width);
                }
                int64_t mono = (int64_t)(md.timestamp / 1000);
                f->data = c->luma.data();
                f->width = c->width;
                f->height = c->height;
                f->stride = c->width;
                f->seq = md.sequence;
                f->mono_us = mono > 0 ? mono : sk_now_mono_us();
                f->t_us = f->mono_us;
            }
        }
        for (libcamera::Request *req : got) {
            req->reuse(libcamera::Request::ReuseBuffers);
            int q = c->cam->queueRequest(req);
            if (q < 0 && r == 0) {
                r = q;
            }
        }
        return r;
    } catch (...) {
        return SK_ECAMERA;
    }
}

void lc_close(void *priv)
{
    try {
        lc_teardown(static_cast<lc_cam *>(priv));
    } catch (...) {
    }
}

int lc_enumerate(struct sk_camera_info *infos, size_t max)
{
    try {
        libcamera::CameraManager *cm = nullptr;
        int r = mgr_get(&cm);
        if (r < 0) {
            return r;
        }
        auto cams = cm->cameras();
        for (size_t i = 0; i < cams.size() && i < max; i++) {
            std::snprintf(infos[i].id, sizeof(infos[i].id), "%s", cams[i]->id().c_str());
            const auto &props = cams[i]->properties();
            auto model = props.get(libcamera::properties::Model);
            std::snprintf(infos[i].model, sizeof(infos[i].model), "%s",
                          model ? model->c_str() : "unknown");
            std::snprintf(infos[i].driver, sizeof(infos[i].driver), "libcamera");
        }
        int n = (int)cams.size();
        cams.clear();
        mgr_put();
        return n;
    } catch (...) {
        return SK_ECAMERA;
    }
}

const struct sk_camera_backend backend = {
        "libcamera", lc_open, lc_capture, lc_close, lc_enumerate, "libcamera",
};

const char *lc_version(void)
{
    /* The loaded library's own version string (e.g. "v0.0.3+..."), not the headers'. */
    static char v[64];
    try {
        std::snprintf(v, sizeof(v), "%s", libcamera::CameraManager::version().c_str());
    } catch (...) {
        return "unknown";
    }
    return v;
}

} // namespace

/* The one symbol the module exports (built with hidden visibility). */
extern "C" __attribute__((visibility("default"))) const struct sk_module sk_module = {
        SK_MODULE_ABI, sizeof(struct sk_module), "camera-libcamera", SK_VERSION, &backend, nullptr,
        lc_version,
};
