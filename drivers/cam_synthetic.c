/* SPDX-License-Identifier: MIT */
/* The synthetic camera: renders a scripted scene (struct sk_synth) into luma frames. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/synth.h"

/*
 * Frame n shows the scene at t = n / fps, so the scene's script is reproducible whatever
 * the machine's speed. In realtime mode frames are also delivered at that pace; a consumer
 * that falls behind by more than a frame sees the skipped frames as a gap in seq, like a
 * real sensor that overwrote them.
 *
 * STOREKEEPER_SYNTH_EPOCH (wall-clock seconds since 1970, the simulator's crash loop) pins the
 * scene to the wall clock instead: frame n shows t = (opened - epoch) + n / fps, so a runtime
 * that was killed and started again sees the shoppers where they are now, not back at their
 * start, the way a real camera would.
 */

struct synth_cam {
    struct sk_synth *scene;
    bool owned;
    bool realtime;
    int width, height, fps;
    uint8_t *buf;
    uint64_t n;
    int64_t start_us;
    double t0; /* scene time of frame 0 (STOREKEEPER_SYNTH_EPOCH), else 0 */
};

/* Scene time now by STOREKEEPER_SYNTH_EPOCH, or 0 when it is not set (or not a time). */
static double epoch_offset(void)
{
    const char *e = getenv("STOREKEEPER_SYNTH_EPOCH");
    if (!e || !e[0]) {
        return 0;
    }
    char *end;
    double epoch = strtod(e, &end);
    if (*end || !(epoch > 0)) {
        return 0;
    }
    double t = (double)sk_now_wall_us() / 1e6 - epoch;
    return t > 0 ? t : 0;
}

static int synth_open(const struct sk_camera_params *p, void **ret_priv)
{
    struct synth_cam *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->width = p->width > 0 ? p->width : 320;
    c->height = p->height > 0 ? p->height : 240;
    c->fps = p->fps > 0 ? p->fps : 10;
    c->realtime = p->realtime;
    c->t0 = epoch_offset();
    int r = 0;
    if (p->scene) {
        c->scene = p->scene;
    } else if (p->device && p->device[0]) {
        r = sk_synth_load(p->device, c->width, c->height, NULL, 0, &c->scene);
        c->owned = true;
    } else {
        struct sk_synth_params sp;
        sk_synth_params_default(&sp, c->width, c->height);
        if (p->seed) {
            sp.seed = p->seed;
        }
        r = sk_synth_new(&sp, &c->scene);
        c->owned = true;
    }
    c->buf = r == 0 ? malloc((size_t)c->width * (size_t)c->height) : NULL;
    if (r == 0 && !c->buf) {
        r = -ENOMEM;
    }
    if (r < 0) {
        if (c->owned) {
            sk_synth_free(c->scene);
        }
        free(c);
        return r;
    }
    *ret_priv = c;
    return 0;
}

static int synth_capture(void *priv, int timeout_ms, struct sk_frame *f)
{
    struct synth_cam *c = priv;
    int64_t now = sk_now_mono_us();
    if (c->realtime) {
        if (c->n == 0) {
            c->start_us = now;
        }
        int64_t due = c->start_us + (int64_t)(c->n * 1000000 / (uint64_t)c->fps);
        if (now > due + 1000000 / c->fps) {
            /* Late: the frames in between were never seen (the source dropped them). */
            c->n = (uint64_t)((now - c->start_us) * c->fps / 1000000);
            due = c->start_us + (int64_t)(c->n * 1000000 / (uint64_t)c->fps);
        }
        if (due - now > (int64_t)timeout_ms * 1000) {
            struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            return -ETIMEDOUT;
        }
        if (due > now) {
            struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000L};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        now = sk_now_mono_us();
    }
    double t = c->t0 + (double)c->n / (double)c->fps;
    if (sk_synth_fault_at(c->scene, t) == SK_SYNTH_STALL) {
        /* A hung sensor: no frame for the caller's whole wait; its time moves on. */
        c->n++;
        if (!c->realtime) {
            return -ETIMEDOUT;
        }
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return -ETIMEDOUT;
    }
    int r = sk_synth_render(c->scene, t, c->n, c->buf, c->width, c->height, c->width);
    if (r < 0) {
        return r;
    }
    *f = (struct sk_frame){.data = c->buf,
                           .width = c->width,
                           .height = c->height,
                           .stride = c->width,
                           .seq = c->n,
                           .mono_us = now,
                           .t_us = (int64_t)(c->n * 1000000 / (uint64_t)c->fps)};
    c->n++;
    return 0;
}

static void synth_close(void *priv)
{
    struct synth_cam *c = priv;
    if (c->owned) {
        sk_synth_free(c->scene);
    }
    free(c->buf);
    free(c);
}

const struct sk_camera_backend sk_camera_synthetic = {
        .name = "synthetic",
        .open = synth_open,
        .capture = synth_capture,
        .close = synth_close,
        .enumerate = NULL,
        .library = "scripted scenes (built in)",
};
