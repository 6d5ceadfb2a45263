/* SPDX-License-Identifier: MIT */
/* Benchmark of the vision pipeline: ms per frame and stage at two processing sizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include "harness.h"

/*
 * bench_vision [--clip FILE] [--raw-out FILE] [--frames N] [--repeat R] [--only-320]
 *
 * Renders a synthetic clip (synthetic camera) into memory first, timing that as capture;
 * streams the real clip through the file camera (--line and --truth come from its
 * annotation in tests/vision/clips/, passed by bench_vision.py), frame by frame, never the
 * whole clip in memory. Runs every frame through the pipeline at 640x480 and 320x240, R times, and
 * prints one JSON object with the median and the spread (min, max) of each stage in ms per frame,
 * the line crossings counted, and the peak RSS. --raw-out writes the synthetic frames (8-bit grey,
 * 640x480 each) for the Python reference to read the very same frames. --only-320 skips the 640x480
 * runs (for instruction counts under callgrind: --toggle-collect=sk_vision_process).
 * tests/vision/bench_vision.py runs both and prints the ratios.
 */

#define SYN_W 640
#define SYN_H 480

struct clip {
    uint8_t *data;
    int w, h, n;
    double decode_ms; /* per frame */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
load(const char *backend, const char *device, struct sk_synth *scene, int max, struct clip *c)
{
    struct sk_camera_params p = {.backend = backend,
                                 .device = device,
                                 .width = SYN_W,
                                 .height = SYN_H,
                                 .fps = 10,
                                 .scene = scene};
    struct sk_camera *cam;
    int r = sk_camera_open(&p, &cam);
    if (r < 0) {
        return r;
    }
    memset(c, 0, sizeof(*c));
    double t0 = now_ms();
    for (int i = 0; i < max; i++) {
        struct sk_frame f;
        r = sk_camera_capture(cam, 1000, &f);
        if (r < 0) {
            break;
        }
        if (!c->data) {
            c->w = f.width;
            c->h = f.height;
            c->data = malloc((size_t)c->w * (size_t)c->h * (size_t)max);
            if (!c->data) {
                r = -ENOMEM;
                break;
            }
        }
        for (int y = 0; y < c->h; y++) {
            memcpy(c->data + ((size_t)c->n * (size_t)c->h + (size_t)y) * (size_t)c->w,
                   f.data + (size_t)y * (size_t)f.stride, (size_t)c->w);
        }
        c->n++;
    }
    c->decode_ms = c->n ? (now_ms() - t0) / c->n : 0;
    sk_camera_close(cam);
    return c->n > 0 ? 0 : (r < 0 ? r : -ENODATA);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stage {
    double v[32];
};

static void put_stage(const char *name, struct stage *s, int reps, bool last)
{
    qsort(s->v, (size_t)reps, sizeof(double), cmp_double);
    printf("\"%s\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f}%s", name, s->v[reps / 2], s->v[0],
           s->v[reps - 1], last ? "" : ",");
}

/* Runs the clip through a pipeline at w x h, reps times; prints one JSON member. */
static int bench(const char *label,
                 const struct clip *c,
                 int w,
                 int h,
                 int reps,
                 const struct sk_line_cfg *line,
                 bool last)
{
    struct stage resize = {0}, bg = {0}, blobs = {0}, track = {0}, total = {0};
    uint64_t in = 0, out = 0;
    for (int rep = 0; rep < reps; rep++) {
        struct sk_vision_params vp;
        sk_vision_params_default(&vp, w, h);
        struct sk_vision *v;
        int r = sk_vision_new(&vp, NULL, NULL, 0, line, line ? 1 : 0, &v);
        if (r < 0) {
            return r;
        }
        for (int i = 0; i < c->n; i++) {
            struct sk_frame f = {.data = c->data + (size_t)i * (size_t)c->w * (size_t)c->h,
                                 .width = c->w,
                                 .height = c->h,
                                 .stride = c->w,
                                 .seq = (uint64_t)i,
                                 .t_us = (int64_t)i * 100000};
            if ((r = sk_vision_process(v, &f)) < 0) {
                sk_vision_free(v);
                return r;
            }
        }
        struct sk_vision_stats st;
        sk_vision_get_stats(v, &st);
        double n = (double)st.frames;
        resize.v[rep] = st.ms_resize / n;
        bg.v[rep] = st.ms_background / n;
        blobs.v[rep] = st.ms_blobs / n;
        track.v[rep] = st.ms_tracking / n;
        total.v[rep] = (st.ms_resize + st.ms_background + st.ms_blobs + st.ms_tracking) / n;
        in = st.entries;
        out = st.exits;
        sk_vision_free(v);
    }
    printf("\"%s\":{\"frames\":%d,\"width\":%d,\"height\":%d,\"decode_ms\":%.4f,", label, c->n, w,
           h, c->decode_ms);
    put_stage("resize", &resize, reps, false);
    put_stage("background", &bg, reps, false);
    put_stage("blobs", &blobs, reps, false);
    put_stage("tracking", &track, reps, false);
    put_stage("total", &total, reps, false);
    printf("\"in\":%llu,\"out\":%llu}%s\n", (unsigned long long)in, (unsigned long long)out,
           last ? "" : ",");
    return 0;
}

/* The clip, streamed: each repetition opens the file camera again and processes frames as
 * they are decoded (never the whole clip in memory), timing the pipeline's stages only. */
static int bench_stream(const char *label,
                        const char *path,
                        int w,
                        int h,
                        int reps,
                        const struct sk_line_cfg *line,
                        bool last)
{
    struct stage resize = {0}, bg = {0}, blobs = {0}, track = {0}, total = {0};
    uint64_t in = 0, out = 0;
    double decode_ms = 0;
    int n_frames = 0, fw = 0, fh = 0;
    for (int rep = 0; rep < reps; rep++) {
        struct sk_camera_params p = {.backend = "file", .device = path};
        struct sk_camera *cam;
        int r = sk_camera_open(&p, &cam);
        if (r < 0) {
            return r;
        }
        struct sk_vision_params vp;
        sk_vision_params_default(&vp, w, h);
        struct sk_vision *v;
        r = sk_vision_new(&vp, NULL, NULL, 0, line, 1, &v);
        if (r < 0) {
            sk_camera_close(cam);
            return r;
        }
        double t_dec = 0;
        n_frames = 0;
        /* the daemon's path: the generic-x86 board's cap (15 fps) by the pacing rule */
        struct sk_vision_pacer pacer;
        sk_vision_pacer_init(&pacer, 15);
        for (;;) {
            struct sk_frame f;
            double t0 = now_ms();
            r = sk_camera_capture(cam, 1000, &f);
            t_dec += now_ms() - t0;
            if (r < 0) {
                break;
            }
            fw = f.width;
            fh = f.height;
            n_frames++;
            if (!sk_vision_pacer_take(&pacer, f.t_us)) {
                continue;
            }
            if ((r = sk_vision_process(v, &f)) < 0) {
                break;
            }
        }
        sk_camera_close(cam);
        if (r < 0 && r != -ENODATA) {
            sk_vision_free(v);
            return r;
        }
        decode_ms = n_frames ? t_dec / n_frames : 0;
        struct sk_vision_stats st;
        sk_vision_get_stats(v, &st);
        double n = (double)st.frames;
        resize.v[rep] = st.ms_resize / n;
        bg.v[rep] = st.ms_background / n;
        blobs.v[rep] = st.ms_blobs / n;
        track.v[rep] = st.ms_tracking / n;
        total.v[rep] = (st.ms_resize + st.ms_background + st.ms_blobs + st.ms_tracking) / n;
        in = st.entries;
        out = st.exits;
        sk_vision_free(v);
    }
    printf("\"%s\":{\"frames\":%d,\"width\":%d,\"height\":%d,\"clip_width\":%d,"
           "\"clip_height\":%d,\"decode_ms\":%.4f,",
           label, n_frames, w, h, fw, fh, decode_ms);
    put_stage("resize", &resize, reps, false);
    put_stage("background", &bg, reps, false);
    put_stage("blobs", &blobs, reps, false);
    put_stage("tracking", &track, reps, false);
    put_stage("total", &total, reps, false);
    printf("\"in\":%llu,\"out\":%llu}%s\n", (unsigned long long)in, (unsigned long long)out,
           last ? "" : ",");
    return 0;
}

/* The synthetic clip: 12 shoppers through a door line, known truth 8 in and 4 out. */
static struct sk_synth *synthetic_scene(void)
{
    struct sk_synth_params p;
    sk_synth_params_default(&p, 320, 240);
    p.shadows = true;
    p.drift_amplitude = 0.2f;
    p.drift_period_s = 40;
    struct sk_synth *s;
    if (sk_synth_new(&p, &s) < 0) {
        return NULL;
    }
    for (int i = 0; i < 8; i++) {
        float x = 50.0f + 30.0f * (float)i;
        h_walk(s, 50 + 25 * (i % 6), 2.0 + 4.0 * i, x, 260, x + 15, -20, 100);
    }
    for (int i = 0; i < 4; i++) {
        float x = 70.0f + 55.0f * (float)i;
        h_walk(s, 90 + 30 * i, 4.0 + 7.0 * i, x, -20, x - 10, 260, 90);
    }
    return s;
}

int main(int argc, char **argv)
{
    const char *clip_path = NULL, *raw_out = NULL;
    double lp[4] = {0};
    int inside = 0, truth_in = -1, truth_out = -1;
    int frames = 600, reps = 5;
    bool only_320 = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--clip") == 0 && i + 1 < argc) {
            clip_path = argv[++i];
        } else if (strcmp(argv[i], "--raw-out") == 0 && i + 1 < argc) {
            raw_out = argv[++i];
        } else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--line") == 0 && i + 1 < argc &&
                   sscanf(argv[++i], "%lf,%lf,%lf,%lf,%d", &lp[0], &lp[1], &lp[2], &lp[3],
                          &inside) == 5) {
        } else if (strcmp(argv[i], "--truth") == 0 && i + 1 < argc &&
                   sscanf(argv[++i], "%d,%d", &truth_in, &truth_out) == 2) {
        } else if (strcmp(argv[i], "--only-320") == 0) {
            only_320 = true;
        } else {
            fprintf(stderr, "usage: bench_vision [--clip FILE --line x1,y1,x2,y2,inside "
                            "--truth IN,OUT] [--raw-out FILE] [--frames N] [--repeat R] "
                            "[--only-320]\n");
            return 2;
        }
    }
    if (frames < 10 || frames > 5000 || reps < 1 || reps > 31) {
        fprintf(stderr, "bench_vision: --frames 10..5000, --repeat 1..31\n");
        return 2;
    }
    if (clip_path && (truth_in < 0 || truth_out < 0 || (lp[0] == lp[2] && lp[1] == lp[3]))) {
        fprintf(stderr, "bench_vision: --clip needs the line and truth of its annotation "
                        "(--line, --truth; bench_vision.py reads tests/vision/clips/)\n");
        return 2;
    }
    printf("{\n");
    /* Lines in processing coordinates at each size (the clip's is the watched count's). */
    struct sk_line_cfg door320, door640, walk320, walk640;
    h_line(&door320, "door", 10, 120, 310, 120, 0);
    h_line(&door640, "door", 20, 240, 620, 240, 0);
    h_line(&walk320, "walk", (float)lp[0], (float)lp[1], (float)lp[2], (float)lp[3], inside);
    h_line(&walk640, "walk", (float)lp[0] * 2, (float)lp[1] * 2, (float)lp[2] * 2, (float)lp[3] * 2,
           inside);
    struct sk_synth *scene = synthetic_scene();
    struct clip syn;
    int r = scene ? load("synthetic", "", scene, frames, &syn) : -ENOMEM;
    if (r < 0) {
        fprintf(stderr, "bench_vision: synthetic clip: %d\n", r);
        return 1;
    }
    if (raw_out) {
        FILE *f = fopen(raw_out, "wb");
        if (!f ||
            fwrite(syn.data, (size_t)syn.w * (size_t)syn.h, (size_t)syn.n, f) != (size_t)syn.n) {
            perror(raw_out);
            return 1;
        }
        fclose(f);
    }
    printf("\"synthetic_truth\":{\"in\":8,\"out\":4},\n");
    if (!only_320) {
        bench("synthetic_640", &syn, 640, 480, reps, &door640, false);
    }
    bench("synthetic_320", &syn, 320, 240, reps, &door320, clip_path == NULL);
    free(syn.data);
    sk_synth_free(scene);
    if (clip_path) {
        printf("\"clip_truth\":{\"in\":%d,\"out\":%d},\n", truth_in, truth_out);
        if (!only_320) {
            r = bench_stream("clip_640", clip_path, 640, 480, reps, &walk640, false);
        }
        if (r >= 0) {
            r = bench_stream("clip_320", clip_path, 320, 240, reps, &walk320, true);
        }
        if (r < 0) {
            fprintf(stderr, "bench_vision: clip %s: %d\n", clip_path, r);
            return 1;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(",\"peak_rss_kb\":%ld\n}\n", ru.ru_maxrss);
    return 0;
}
