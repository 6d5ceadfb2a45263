/* SPDX-License-Identifier: MIT */
/* Streams a clip through the camera, the board's pacing and the vision pipeline; prints what it
 * saw. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/camera.h"
#include "storekeeper/error.h"
#include "storekeeper/vision.h"

/*
 * vision_trace --clip FILE [--max-fps F] [--box WxH] [--line x1,y1,x2,y2,inside]...
 *              [--person-px P] [--tracks] [--png DIR --png-frames FIRST-LAST]
 *
 * The measuring tool of the real-clip tests (tests/vision/clips/): frames are read one at a
 * time from the file camera (never the whole clip in memory), paced by the board's rule at
 * --max-fps (default 15) and run through the default pipeline. One JSON object per line: a
 * "cross" line per counted crossing, with --tracks a "tracks" line per processed frame
 * (confirmed tracks: id, x, y, box, in a group (1) or not, frames unseen), and a last "summary"
 * line. inside: 0 left, 1 right.
 * --png writes the annotated snapshot (sk_vision_write_png, scale 2) of each processed frame
 * in FIRST..LAST (clip frame numbers) as DIR/NNNN.png: for reading what the tracker did.
 */

#define MAX_LINES 8

int main(int argc, char **argv)
{
    const char *clip = NULL;
    double max_fps = 15, person_px = 0;
    int box_w = 320, box_h = 240;
    bool tracks = false;
    const char *png_dir = NULL;
    unsigned long png_first = 0, png_last = 0;
    struct sk_line_cfg lines[MAX_LINES];
    size_t n_lines = 0;
    memset(lines, 0, sizeof(lines));
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "--clip") == 0 && more) {
            clip = argv[++i];
        } else if (strcmp(argv[i], "--max-fps") == 0 && more) {
            max_fps = atof(argv[++i]);
        } else if (strcmp(argv[i], "--person-px") == 0 && more) {
            person_px = atof(argv[++i]);
        } else if (strcmp(argv[i], "--box") == 0 && more &&
                   sscanf(argv[++i], "%dx%d", &box_w, &box_h) == 2) {
        } else if (strcmp(argv[i], "--line") == 0 && more && n_lines < MAX_LINES) {
            struct sk_line_cfg *l = &lines[n_lines];
            double *p = l->points;
            if (sscanf(argv[++i], "%lf,%lf,%lf,%lf,%d", &p[0], &p[1], &p[2], &p[3], &l->inside) !=
                5) {
                fprintf(stderr, "vision_trace: --line x1,y1,x2,y2,inside\n");
                return 2;
            }
            l->points_len = 4;
            l->role = SK_LINE_COUNT;
            snprintf(l->name, sizeof(l->name), "line%zu", n_lines);
            snprintf(l->camera, sizeof(l->camera), "clip");
            n_lines++;
        } else if (strcmp(argv[i], "--png") == 0 && more) {
            png_dir = argv[++i];
        } else if (strcmp(argv[i], "--png-frames") == 0 && more &&
                   sscanf(argv[++i], "%lu-%lu", &png_first, &png_last) == 2) {
        } else if (strcmp(argv[i], "--tracks") == 0) {
            tracks = true;
        } else {
            fprintf(stderr, "vision_trace: unknown or incomplete option %s\n", argv[i]);
            return 2;
        }
    }
    if (!clip) {
        fprintf(stderr, "usage: vision_trace --clip FILE [--max-fps F] [--box WxH] "
                        "[--line x1,y1,x2,y2,inside]... [--person-px P] [--tracks] "
                        "[--png DIR --png-frames FIRST-LAST]\n");
        return 2;
    }
    struct sk_camera_params cp = {.backend = "file", .device = clip};
    struct sk_camera *cam = NULL;
    int r = sk_camera_open(&cp, &cam);
    if (r < 0) {
        fprintf(stderr, "vision_trace: %s: %s\n", clip, sk_strerror(r));
        return r == SK_ENOTBUILT ? 77 : 1;
    }
    struct sk_vision_params vp;
    sk_vision_params_default(&vp, box_w, box_h);
    if (person_px > 0) {
        vp.person_px = (float)person_px;
    }
    struct sk_vision *v = NULL;
    r = sk_vision_new(&vp, NULL, NULL, 0, lines, n_lines, &v);
    if (r < 0) {
        fprintf(stderr, "vision_trace: vision: %s\n", sk_strerror(r));
        sk_camera_close(cam);
        return 1;
    }
    struct sk_vision_pacer pacer;
    sk_vision_pacer_init(&pacer, max_fps);
    uint64_t frames = 0, processed = 0;
    int64_t last_t = 0;
    for (;;) {
        struct sk_frame f;
        r = sk_camera_capture(cam, 1000, &f);
        if (r < 0) {
            break;
        }
        uint64_t n = frames++;
        if (!sk_vision_pacer_take(&pacer, f.t_us)) {
            continue;
        }
        processed++;
        last_t = f.t_us;
        r = sk_vision_process(v, &f);
        if (r < 0) {
            break;
        }
        if (png_dir && n >= png_first && n <= png_last) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%04llu.png", png_dir, (unsigned long long)n);
            (void)sk_vision_write_png(v, path, 2);
        }
        size_t ne;
        const struct sk_vision_event *ev = sk_vision_events(v, &ne);
        for (size_t k = 0; k < ne; k++) {
            if (ev[k].type == SK_VEV_LINE_CROSS) {
                printf("{\"cross\":\"%s\",\"frame\":%llu,\"t\":%.3f,\"track\":%u,\"dir\":\"%s\","
                       "\"x\":%.1f,\"y\":%.1f}\n",
                       ev[k].name, (unsigned long long)n, (double)ev[k].t_us / 1e6, ev[k].track_id,
                       ev[k].dir == SK_LINE_IN ? "in" : "out", ev[k].x, ev[k].y);
            }
        }
        if (tracks) {
            size_t nt;
            const struct sk_vision_track *tr = sk_vision_tracks(v, &nt);
            printf("{\"frame\":%llu,\"tracks\":[", (unsigned long long)n);
            bool first = true;
            for (size_t k = 0; k < nt; k++) {
                if (tr[k].confirmed) {
                    printf("%s[%u,%.1f,%.1f,%d,%d,%d,%d,%d,%d]", first ? "" : ",", tr[k].id,
                           tr[k].x, tr[k].y, tr[k].bx, tr[k].by, tr[k].bw, tr[k].bh, tr[k].merged,
                           tr[k].missed);
                    first = false;
                }
            }
            printf("]}\n");
        }
    }
    int flushed = sk_vision_flush(v, last_t);
    size_t ne;
    const struct sk_vision_event *ev = sk_vision_events(v, &ne);
    for (int k = 0; k < flushed && (size_t)k < ne; k++) {
        if (ev[k].type == SK_VEV_LINE_CROSS) {
            printf("{\"cross\":\"%s\",\"frame\":%llu,\"t\":%.3f,\"track\":%u,\"dir\":\"%s\","
                   "\"x\":%.1f,\"y\":%.1f}\n",
                   ev[k].name, (unsigned long long)frames, (double)ev[k].t_us / 1e6, ev[k].track_id,
                   ev[k].dir == SK_LINE_IN ? "in" : "out", ev[k].x, ev[k].y);
        }
    }
    struct sk_vision_stats st;
    sk_vision_get_stats(v, &st);
    double ms = st.frames ? (st.ms_resize + st.ms_background + st.ms_blobs + st.ms_tracking) /
                                    (double)st.frames
                          : 0;
    printf("{\"summary\":true,\"frames\":%llu,\"processed\":%llu,\"width\":%d,\"height\":%d,"
           "\"tracks_total\":%llu,\"in\":%llu,\"out\":%llu,\"person_px\":%.1f,\"ghosts\":%llu,"
           "\"ms_per_frame\":"
           "%.3f,\"end\":\"%s\"}\n",
           (unsigned long long)frames, (unsigned long long)processed, st.width, st.height,
           (unsigned long long)st.tracks_total, (unsigned long long)st.entries,
           (unsigned long long)st.exits, st.person_px, (unsigned long long)st.ghosts, ms,
           r == -ENODATA ? "clip" : sk_strerror(r));
    sk_vision_free(v);
    sk_camera_close(cam);
    return r == -ENODATA || r >= 0 ? 0 : 1;
}
