/* SPDX-License-Identifier: MIT */
/* The V4L2 camera: USB (UVC) and other kernel capture devices, mmap streaming, pure C. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "camera_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * The driver fills a ring of N_BUFFERS mmap'ed buffers; capture dequeues the newest filled
 * one, copies its luma out (a frame at 320x240 is 77 kB: cheaper than holding a driver
 * buffer through the vision pipeline, and the driver never runs out), and queues it back at
 * once. If the pipeline is slow, the driver overwrites or drops frames; the buffer sequence
 * numbers show the gap, which the camera service counts as dropped.
 *
 * Formats, in order of preference: GREY, YUYV, YUV420 (every one carries luma as is).
 */

#define N_BUFFERS 4

struct mbuf {
    void *start;
    size_t length;
};

struct v4l2_cam {
    int fd;
    struct mbuf bufs[N_BUFFERS];
    unsigned n_bufs;
    uint32_t fourcc;
    int width, height, bytesperline;
    uint8_t *luma;
    bool streaming;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static void v4l2_close(void *priv)
{
    struct v4l2_cam *c = priv;
    if (!c) {
        return;
    }
    if (c->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(c->fd, VIDIOC_STREAMOFF, &type);
    }
    for (unsigned i = 0; i < c->n_bufs; i++) {
        if (c->bufs[i].start && c->bufs[i].start != MAP_FAILED) {
            munmap(c->bufs[i].start, c->bufs[i].length);
        }
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->luma);
    free(c);
}

static int set_format(struct v4l2_cam *c, int width, int height)
{
    static const uint32_t prefs[] = {V4L2_PIX_FMT_GREY, V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_YUV420};
    for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
        struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
        fmt.fmt.pix.width = (uint32_t)width;
        fmt.fmt.pix.height = (uint32_t)height;
        fmt.fmt.pix.pixelformat = prefs[i];
        fmt.fmt.pix.field = V4L2_FIELD_NONE;
        if (xioctl(c->fd, VIDIOC_S_FMT, &fmt) == 0 && fmt.fmt.pix.pixelformat == prefs[i]) {
            c->fourcc = prefs[i];
            c->width = (int)fmt.fmt.pix.width;
            c->height = (int)fmt.fmt.pix.height;
            c->bytesperline = (int)fmt.fmt.pix.bytesperline;
            if (c->bytesperline == 0) {
                c->bytesperline = c->fourcc == V4L2_PIX_FMT_YUYV ? 2 * c->width : c->width;
            }
            return 0;
        }
    }
    return SK_ECAMERA; /* none of the luma formats: e.g. an MJPEG-only camera */
}

static int v4l2_open(const struct sk_camera_params *p, void **ret_priv)
{
    const char *dev = p->device && p->device[0] ? p->device : "/dev/video0";
    struct v4l2_cam *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (c->fd < 0) {
        int e = -errno;
        free(c);
        return e;
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof(cap));
    int r = xioctl(c->fd, VIDIOC_QUERYCAP, &cap);
    uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
    if (r == 0 && (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING))) {
        r = -ENODEV;
    }
    if (r == 0) {
        r = set_format(c, p->width > 0 ? p->width : 640, p->height > 0 ? p->height : 480);
    }
    if (r == 0 && p->fps > 0) {
        struct v4l2_streamparm parm = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
        parm.parm.capture.timeperframe.numerator = 1;
        parm.parm.capture.timeperframe.denominator = (uint32_t)p->fps;
        (void)xioctl(c->fd, VIDIOC_S_PARM, &parm); /* best effort: not every driver can */
    }
    struct v4l2_requestbuffers req = {
            .count = N_BUFFERS, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
    if (r == 0 && (r = xioctl(c->fd, VIDIOC_REQBUFS, &req)) == 0 && req.count < 2) {
        r = -ENOMEM;
    }
    for (unsigned i = 0; r == 0 && i < req.count && i < N_BUFFERS; i++) {
        struct v4l2_buffer b = {
                .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP, .index = i};
        if ((r = xioctl(c->fd, VIDIOC_QUERYBUF, &b)) < 0) {
            break;
        }
        c->bufs[i].length = b.length;
        c->bufs[i].start =
                mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
        c->n_bufs = i + 1;
        if (c->bufs[i].start == MAP_FAILED) {
            r = -errno;
            break;
        }
        r = xioctl(c->fd, VIDIOC_QBUF, &b);
    }
    if (r == 0) {
        c->luma = malloc((size_t)c->width * (size_t)c->height);
        r = c->luma ? 0 : -ENOMEM;
    }
    if (r == 0) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        r = xioctl(c->fd, VIDIOC_STREAMON, &type);
        c->streaming = r == 0;
    }
    if (r < 0) {
        v4l2_close(c);
        return r;
    }
    *ret_priv = c;
    return 0;
}

static void copy_luma(struct v4l2_cam *c, const uint8_t *src, size_t used)
{
    size_t need = (size_t)c->bytesperline * (size_t)c->height;
    if (used < need) {
        memset(c->luma, 0, (size_t)c->width * (size_t)c->height); /* short frame: black */
        return;
    }
    for (int y = 0; y < c->height; y++) {
        const uint8_t *row = src + (size_t)y * (size_t)c->bytesperline;
        uint8_t *dst = c->luma + (size_t)y * (size_t)c->width;
        if (c->fourcc == V4L2_PIX_FMT_YUYV) {
            for (int x = 0; x < c->width; x++) {
                dst[x] = row[2 * x];
            }
        } else {
            memcpy(dst, row, (size_t)c->width); /* GREY, or the Y plane of YUV420 */
        }
    }
}

static int v4l2_capture(void *priv, int timeout_ms, struct sk_frame *f)
{
    struct v4l2_cam *c = priv;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    if (n == 0) {
        return -ETIMEDOUT;
    }
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return -ENODEV;
    }
    /* Take every filled buffer and keep the newest: the vision wants the present. */
    struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
    int r = xioctl(c->fd, VIDIOC_DQBUF, &b);
    if (r < 0) {
        return r == -EAGAIN ? -ETIMEDOUT : r;
    }
    for (;;) {
        struct v4l2_buffer nb = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
        if (xioctl(c->fd, VIDIOC_DQBUF, &nb) < 0) {
            break;
        }
        xioctl(c->fd, VIDIOC_QBUF, &b);
        b = nb;
    }
    if (b.index >= c->n_bufs) {
        return SK_ECAMERA;
    }
    copy_luma(c, c->bufs[b.index].start, b.bytesused ? b.bytesused : c->bufs[b.index].length);
    int64_t ts = (int64_t)b.timestamp.tv_sec * 1000000 + b.timestamp.tv_usec;
    int64_t mono =
            (b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC && ts > 0
                    ? ts
                    : sk_now_mono_us();
    *f = (struct sk_frame){.data = c->luma,
                           .width = c->width,
                           .height = c->height,
                           .stride = c->width,
                           .seq = b.sequence,
                           .mono_us = mono,
                           .t_us = mono};
    return xioctl(c->fd, VIDIOC_QBUF, &b);
}

static int v4l2_enumerate(struct sk_camera_info *infos, size_t max)
{
    int n = 0;
    for (int i = 0; i < 64; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/video%d", i);
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        struct v4l2_capability cap;
        memset(&cap, 0, sizeof(cap));
        if (xioctl(fd, VIDIOC_QUERYCAP, &cap) == 0) {
            uint32_t caps =
                    cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
            if ((caps & V4L2_CAP_VIDEO_CAPTURE) && (caps & V4L2_CAP_STREAMING)) {
                if ((size_t)n < max) {
                    snprintf(infos[n].id, sizeof(infos[n].id), "%s", path);
                    snprintf(infos[n].model, sizeof(infos[n].model), "%s", (const char *)cap.card);
                    snprintf(infos[n].driver, sizeof(infos[n].driver), "v4l2 %s",
                             (const char *)cap.driver);
                }
                n++;
            }
        }
        close(fd);
    }
    return n;
}

const struct sk_camera_backend sk_camera_v4l2 = {
        .name = "v4l2",
        .open = v4l2_open,
        .capture = v4l2_capture,
        .close = v4l2_close,
        .enumerate = v4l2_enumerate,
        .library = "kernel V4L2",
};
