/* SPDX-License-Identifier: MIT */
/* The camera service: one thread per camera, capture -> vision -> observations to the core. */
#include "svc_camera.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include "storekeeper/camera.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/notify.h"
#include "storekeeper/queue.h"
#include "storekeeper/synth.h"
#include "storekeeper/vision.h"

/*
 * DESIGN
 * Each camera thread owns its device and its vision pipeline and shares nothing but the
 * core queue and a stop flag. Observations are pushed with SK_QUEUE_DROP_ABOVE_HIGH: a slow
 * core costs camera observations (counted), never a stalled capture. Frames the pipeline
 * could not keep up with show as gaps in the source's sequence numbers and are counted as
 * dropped; frames above the board's vision_max_fps are skipped on purpose (not drops).
 *
 * Health: UP while frames flow; DOWN with a reason when the device cannot be opened, stops
 * delivering, or a clip ended; DEGRADED when frames are black (a covered lens) or more than
 * a tenth of them are dropped. A failing device is reopened with a doubling back-off.
 * Frames never leave the thread: only tracks, zone and line events and counters do.
 */

#define CAPTURE_TIMEOUT_MS 1000
#define NO_FRAMES_US       3000000
#define REOPEN_MIN_MS      1000
#define REOPEN_MAX_MS      30000
#define BLACK_LUMA         12
#define BLACK_FRAMES       30

struct cam_thread {
    struct cam_service *svc;
    struct sk_camera_cfg cfg;
    char device[SK_PATH_MAX]; /* resolved against the config's directory */
    struct sk_vision *vision;
    struct sk_heartbeat *hb;
    pthread_t thread;
    bool started;
    /* Owned by the thread. */
    struct sk_camera *cam;
    int health, reason;
    struct sk_complain complain;
    uint64_t last_seq;
    bool have_seq;
    int64_t last_frame_us, last_processed_t_us;
    struct sk_vision_pacer pacer;
    int black_run;
    bool clip_ended;
    int64_t moved_t_us; /* media time of the last TRACK_MOVE round (floor cameras) */
    /* The technician's snapshot: requested by the core, rendered here, under snap_lock. */
    pthread_mutex_t snap_lock;
    atomic_int snap_scale; /* 0: none requested */
    void *snap_png;
    size_t snap_len;
    int snap_err;
    bool snap_ready;
    int64_t snap_wall_us;
    /* Flow counters since the last FLOW observation. */
    int64_t flow_start_us;
    uint32_t entries, exits, dropped, processed, obs_dropped, frames_in;
    double proc_ms;
};

struct cam_service {
    struct sk_queue *queue;
    const struct sk_clock *clock;
    struct sk_vision_params vparams;
    int max_fps;
    int64_t flow_interval_us;
    atomic_bool stop;
    size_t n;
    struct cam_thread *threads;
};

static void push(struct cam_thread *t, struct sk_obs *obs, int64_t mono_us)
{
    const struct sk_clock *c = t->svc->clock;
    int64_t now = sk_clock_mono_us(c);
    obs->mono_us = mono_us > 0 && mono_us <= now ? mono_us : now;
    obs->wall_us = sk_clock_wall_us(c) - (now - obs->mono_us);
    sk_obs_set_source(obs, t->cfg.name);
    if (sk_queue_push(t->svc->queue, obs, SK_QUEUE_DROP_ABOVE_HIGH, 0) < 0) {
        t->obs_dropped++;
    }
}

static void set_health(struct cam_thread *t, int state, int reason, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void set_health(struct cam_thread *t, int state, int reason, const char *fmt, ...)
{
    if (t->health == state && t->reason == reason) {
        return;
    }
    struct sk_obs obs = {.type = SK_OBS_CAMERA_HEALTH};
    obs.u.health.state = (uint8_t)state;
    obs.u.health.reason = (uint8_t)reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(obs.u.health.detail, sizeof(obs.u.health.detail), fmt, ap);
    va_end(ap);
    int level = state == SK_HEALTH_UP ? SK_LOG_NOTICE : SK_LOG_WARNING;
    sk_log(level, "camera", t->cfg.name, "%s%s%s", sk_health_state_name(state),
           obs.u.health.detail[0] ? ": " : "", obs.u.health.detail);
    t->health = state;
    t->reason = reason;
    push(t, &obs, 0);
}

/* Floor cameras tell where their tracks are this often: fusion hands a shopper from one
 * camera's track to another's by where both are on the floor at the same moment, and zone and
 * line events alone leave a walk along an aisle unseen for seconds. */
#define MOVE_INTERVAL_US 250000

/* Where the tracks seen in this frame are, every MOVE_INTERVAL_US of media time. */
static void push_moves(struct cam_thread *t, int64_t t_us, int64_t mono_us)
{
    if (!t->cfg.has_floor ||
        (t->moved_t_us && t_us - t->moved_t_us < MOVE_INTERVAL_US && t_us >= t->moved_t_us)) {
        return;
    }
    t->moved_t_us = t_us;
    size_t n;
    const struct sk_vision_track *tr = sk_vision_tracks(t->vision, &n);
    for (size_t i = 0; i < n; i++) {
        if (!tr[i].confirmed || tr[i].missed > 0) {
            continue; /* tentative (not yet reported) or coasting: no position seen now */
        }
        struct sk_obs obs = {.type = SK_OBS_TRACK_MOVE};
        obs.u.track.track_id = tr[i].id;
        obs.u.track.x = tr[i].x;
        obs.u.track.y = tr[i].y;
        push(t, &obs, mono_us);
    }
}

static void push_events(struct cam_thread *t, int64_t mono_us)
{
    size_t n;
    const struct sk_vision_event *ev = sk_vision_events(t->vision, &n);
    for (size_t i = 0; i < n; i++) {
        static const uint16_t types[] = {
                [SK_VEV_TRACK_NEW] = SK_OBS_TRACK_NEW,   [SK_VEV_TRACK_LOST] = SK_OBS_TRACK_LOST,
                [SK_VEV_ZONE_ENTER] = SK_OBS_ZONE_ENTER, [SK_VEV_ZONE_LEAVE] = SK_OBS_ZONE_LEAVE,
                [SK_VEV_LINE_CROSS] = SK_OBS_LINE_CROSS, [SK_VEV_REACH] = SK_OBS_REACH,
        };
        if (ev[i].type < SK_VEV_TRACK_NEW || ev[i].type > SK_VEV_REACH) {
            continue;
        }
        struct sk_obs obs = {.type = types[ev[i].type]};
        obs.u.track.track_id = ev[i].track_id;
        obs.u.track.x = ev[i].x;
        obs.u.track.y = ev[i].y;
        if (ev[i].name) {
            snprintf(obs.u.track.zone, sizeof(obs.u.track.zone), "%s", ev[i].name);
        }
        obs.u.track.dir = (uint8_t)ev[i].dir;
        obs.u.track.role = (uint8_t)ev[i].role;
        int64_t dwell_ms = ev[i].dwell_us / 1000;
        obs.u.track.dwell_ms = dwell_ms < 0 ? 0 : dwell_ms > UINT32_MAX ? UINT32_MAX : dwell_ms;
        obs.u.track.reach = ev[i].reach;
        obs.u.track.sole = (uint8_t)ev[i].sole;
        if (ev[i].type == SK_VEV_LINE_CROSS) {
            if (ev[i].dir == SK_LINE_IN) {
                t->entries++;
            } else {
                t->exits++;
            }
        }
        push(t, &obs, mono_us);
    }
}

static void push_flow(struct cam_thread *t, int64_t now)
{
    struct sk_vision_stats st = {0};
    if (t->vision) {
        sk_vision_get_stats(t->vision, &st);
    }
    double span_s = (double)(now - t->flow_start_us) / 1e6;
    struct sk_obs obs = {.type = SK_OBS_FLOW};
    obs.u.flow.entries = t->entries;
    obs.u.flow.exits = t->exits;
    obs.u.flow.occupancy = st.tracks_active;
    obs.u.flow.fps = span_s > 0 ? (float)(t->processed / span_s) : 0;
    obs.u.flow.dropped = t->dropped;
    obs.u.flow.proc_ms = t->processed ? (float)(t->proc_ms / t->processed) : 0;
    obs.u.flow.processed = t->processed;
    obs.u.flow.obs_dropped = t->obs_dropped;
    obs.u.flow.span_ms = span_s > 0 ? (uint32_t)(span_s * 1000) : 0;
    t->obs_dropped = 0; /* counted before the push: a refused flow counts in the next one */
    push(t, &obs, now);
    if (t->frames_in >= 20 && t->dropped * 10 > t->frames_in && t->health == SK_HEALTH_UP) {
        set_health(t, SK_HEALTH_DEGRADED, SK_REASON_OVERLOAD,
                   "%u of %u frames dropped: processing too slow", t->dropped, t->frames_in);
    } else if (t->health == SK_HEALTH_DEGRADED && t->reason == SK_REASON_OVERLOAD &&
               t->dropped * 10 <= t->frames_in) {
        set_health(t, SK_HEALTH_UP, SK_REASON_NONE, "frames flow again");
    }
    t->entries = t->exits = t->dropped = t->processed = t->frames_in = 0;
    t->proc_ms = 0;
    t->flow_start_us = now;
}

/* Sleeps up to ms, waking early when the service stops. */
static void nap(struct cam_thread *t, int ms)
{
    for (int left = ms; left > 0 && !atomic_load(&t->svc->stop); left -= 100) {
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
        sk_heartbeat_beat(t->hb, sk_clock_mono_us(t->svc->clock));
    }
}

static int open_camera(struct cam_thread *t)
{
    struct sk_camera_params p = {.backend = t->cfg.backend,
                                 .device = t->device,
                                 .width = t->cfg.width,
                                 .height = t->cfg.height,
                                 .fps = t->cfg.fps,
                                 .realtime = true,
                                 .scene = sk_synth_attached(t->cfg.name)};
    return sk_camera_open(&p, &t->cam);
}

static void close_camera(struct cam_thread *t, int64_t t_us)
{
    sk_camera_close(t->cam);
    t->cam = NULL;
    t->have_seq = false;
    if (sk_vision_flush(t->vision, t_us) > 0) {
        push_events(t, 0); /* tracks end with the stream: every zone visit gets its leave */
    }
}

static bool black_frame(const struct sk_frame *f)
{
    uint64_t sum = 0, n = 0;
    for (int y = 0; y < f->height; y += 8) {
        for (int x = 0; x < f->width; x += 8) {
            sum += f->data[(size_t)y * (size_t)f->stride + (size_t)x];
            n++;
        }
    }
    return n && sum / n < BLACK_LUMA;
}

/* Renders the frame just processed as PNG into an anonymous memory file (the pipeline writes
 * PNG to a path), and hands the bytes to whoever asked. The image never touches a disk. */
static void render_snapshot(struct cam_thread *t)
{
    int scale = atomic_exchange(&t->snap_scale, 0);
    void *png = NULL;
    size_t len = 0;
    int err = 0;
    int fd = memfd_create("storekeeper-snapshot", MFD_CLOEXEC);
    if (fd < 0) {
        err = -errno;
    } else {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        err = sk_vision_write_png(t->vision, path, scale);
        off_t end = err < 0 ? -1 : lseek(fd, 0, SEEK_END);
        if (err >= 0 && end > 0 && (png = malloc((size_t)end)) != NULL &&
            pread(fd, png, (size_t)end, 0) == end) {
            len = (size_t)end;
            err = 0;
        } else if (err >= 0) {
            err = -EIO;
            free(png);
            png = NULL;
        }
        close(fd);
    }
    pthread_mutex_lock(&t->snap_lock);
    free(t->snap_png);
    t->snap_png = png;
    t->snap_len = len;
    t->snap_err = err;
    t->snap_ready = true;
    t->snap_wall_us = sk_clock_wall_us(t->svc->clock);
    pthread_mutex_unlock(&t->snap_lock);
    sk_log(SK_LOG_NOTICE, "camera", t->cfg.name, "technician snapshot taken (%zu bytes, in memory)",
           len);
}

static void handle_frame(struct cam_thread *t, const struct sk_frame *f)
{
    t->frames_in++;
    if (t->have_seq && f->seq > t->last_seq + 1) {
        uint64_t gap = f->seq - t->last_seq - 1;
        t->dropped += gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap;
        t->frames_in += gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap;
    }
    t->last_seq = f->seq;
    t->have_seq = true;
    if (black_frame(f)) {
        if (++t->black_run == BLACK_FRAMES) {
            set_health(t, SK_HEALTH_DEGRADED, SK_REASON_BLACK_FRAMES,
                       "frames are black: lens covered or lights off");
        }
    } else {
        t->black_run = 0;
        if (t->health != SK_HEALTH_UP &&
            !(t->health == SK_HEALTH_DEGRADED && t->reason == SK_REASON_OVERLOAD)) {
            set_health(t, SK_HEALTH_UP, SK_REASON_NONE, "%dx%d frames from %s", f->width, f->height,
                       sk_camera_backend(t->cam));
        }
    }
    /* The board's processing budget, by the rule diag camera and the benchmark share. */
    if (!sk_vision_pacer_take(&t->pacer, f->t_us)) {
        return;
    }
    t->last_processed_t_us = f->t_us;
    int64_t t0 = sk_now_mono_us();
    int r = sk_vision_process(t->vision, f);
    t->proc_ms += (double)(sk_now_mono_us() - t0) / 1000.0;
    t->processed++;
    if (r < 0) {
        sk_complain(&t->complain, t0, SK_LOG_ERR, "camera", t->cfg.name, "vision failed: %s",
                    sk_strerror(r));
        return;
    }
    push_events(t, f->mono_us);
    push_moves(t, f->t_us, f->mono_us);
    if (atomic_load(&t->snap_scale) > 0) {
        render_snapshot(t);
    }
}

static void *camera_main(void *arg)
{
    struct cam_thread *t = arg;
    struct cam_service *s = t->svc;
    char tname[16] = "cam:"; /* the kernel keeps 15 characters of a thread name */
    memcpy(tname + 4, t->cfg.name, strnlen(t->cfg.name, sizeof(tname) - 5));
    pthread_setname_np(pthread_self(), tname);
    int backoff_ms = REOPEN_MIN_MS;
    t->flow_start_us = sk_clock_mono_us(s->clock);
    while (!atomic_load(&s->stop)) {
        int64_t now = sk_clock_mono_us(s->clock);
        sk_heartbeat_beat(t->hb, now);
        if (now - t->flow_start_us >= s->flow_interval_us) {
            push_flow(t, now);
        }
        if (t->clip_ended) {
            nap(t, 200);
            continue;
        }
        if (!t->cam) {
            int r = open_camera(t);
            if (r < 0) {
                sk_complain(&t->complain, now, SK_LOG_ERR, "camera", t->cfg.name,
                            "cannot open %s camera \"%s\": %s", t->cfg.backend, t->device,
                            sk_strerror(r));
                set_health(t, SK_HEALTH_DOWN, SK_REASON_DISCONNECTED, "cannot open: %s",
                           sk_strerror(r));
                nap(t, backoff_ms);
                backoff_ms = backoff_ms * 2 > REOPEN_MAX_MS ? REOPEN_MAX_MS : backoff_ms * 2;
                continue;
            }
            sk_complain_release(&t->complain, SK_LOG_NOTICE, "camera", t->cfg.name,
                                "opened %s camera", t->cfg.backend);
            backoff_ms = REOPEN_MIN_MS;
            t->last_frame_us = now;
        }
        struct sk_frame f;
        int r = sk_camera_capture(t->cam, CAPTURE_TIMEOUT_MS, &f);
        now = sk_clock_mono_us(s->clock);
        if (r == 0) {
            t->last_frame_us = now;
            handle_frame(t, &f);
        } else if (r == -ENODATA) {
            close_camera(t, t->last_processed_t_us);
            t->clip_ended = true;
            set_health(t, SK_HEALTH_DOWN, SK_REASON_NO_FRAMES, "end of clip %s", t->device);
        } else if (r == -ETIMEDOUT) {
            if (now - t->last_frame_us > NO_FRAMES_US) {
                set_health(t, SK_HEALTH_DOWN, SK_REASON_NO_FRAMES, "no frame for %" PRId64 " s",
                           (now - t->last_frame_us) / 1000000);
                close_camera(t, t->last_processed_t_us);
            }
        } else {
            set_health(t, SK_HEALTH_DOWN, SK_REASON_DISCONNECTED, "capture failed: %s",
                       sk_strerror(r));
            close_camera(t, t->last_processed_t_us);
        }
    }
    if (t->cam) {
        close_camera(t, t->last_processed_t_us);
    }
    push_flow(t, sk_clock_mono_us(s->clock));
    return NULL;
}

static void camera_stop(void *state)
{
    struct cam_service *s = state;
    if (!s) {
        return;
    }
    atomic_store(&s->stop, true);
    for (size_t i = s->n; i-- > 0;) {
        struct cam_thread *t = &s->threads[i];
        if (t->started) {
            pthread_join(t->thread, NULL);
        }
        sk_heartbeat_unregister(t->hb);
        sk_vision_free(t->vision);
        free(t->snap_png);
        pthread_mutex_destroy(&t->snap_lock);
    }
    free(s->threads);
    free(s);
}

static int camera_start(struct sk_runtime *rt, void **ret_state)
{
    const struct sk_config *cfg = sk_runtime_config(rt);
    struct cam_service *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->queue = sk_runtime_queue(rt);
    s->clock = sk_runtime_clock(rt);
    s->max_fps = cfg->board.vision_max_fps > 0 ? cfg->board.vision_max_fps : 10;
    s->flow_interval_us = (int64_t)cfg->vision.flow_interval_s * 1000000;
    sk_vision_params_from_config(&s->vparams, cfg);
    atomic_init(&s->stop, false);
    s->threads = calloc(cfg->n_cameras ? cfg->n_cameras : 1, sizeof(*s->threads));
    if (!s->threads) {
        free(s);
        return -ENOMEM;
    }
    int r = 0;
    for (size_t i = 0; i < cfg->n_cameras && r == 0; i++) {
        if (cfg->cameras[i].remote) {
            continue; /* connected to another board of the store (cameras.[].device_id) */
        }
        struct cam_thread *t = &s->threads[s->n++];
        t->svc = s;
        t->cfg = cfg->cameras[i];
        t->health = SK_HEALTH_UNKNOWN;
        t->complain = (struct sk_complain)SK_COMPLAIN_INIT;
        sk_vision_pacer_init(&t->pacer, s->max_fps);
        pthread_mutex_init(&t->snap_lock, NULL);
        if (t->cfg.device[0]) {
            sk_config_resolve_path(cfg, t->cfg.device, t->device, sizeof(t->device));
        }
        struct sk_vision_params vp;
        sk_vision_params_for_camera(&vp, cfg, &t->cfg);
        r = sk_vision_new(&vp, t->cfg.name, cfg->zones, cfg->n_zones, cfg->lines, cfg->n_lines,
                          &t->vision);
        if (r < 0) {
            sk_log(SK_LOG_ERR, "camera", t->cfg.name, "cannot set up vision: %s", sk_strerror(r));
            break;
        }
        sk_vision_set_floor(t->vision, &t->cfg);
        char hb[48];
        snprintf(hb, sizeof(hb), "cam:%s", t->cfg.name);
        t->hb = sk_heartbeat_register(hb, (int64_t)cfg->core.watchdog_stall_s * 1000000);
        r = -pthread_create(&t->thread, NULL, camera_main, t);
        t->started = r == 0;
    }
    if (r < 0) {
        camera_stop(s);
        return r;
    }
    if (s->n) {
        sk_log(SK_LOG_INFO, "camera", NULL, "%zu camera(s), processing %dx%d at up to %d fps", s->n,
               s->vparams.width, s->vparams.height, s->max_fps);
    }
    *ret_state = s;
    return 0;
}

/* Camera observations are the core's; this only makes them visible in a debug log. */
static int camera_handle(void *state, const struct sk_obs *obs)
{
    (void)state;
    if (obs->type < SK_OBS_TRACK_NEW || obs->type > SK_OBS_FLOW ||
        sk_log_get_level() < SK_LOG_DEBUG) {
        return 0;
    }
    const struct sk_obs_track *tr = &obs->u.track;
    switch (obs->type) {
    case SK_OBS_LINE_CROSS:
        sk_log(SK_LOG_DEBUG, "camera", obs->source, "track %u crossed %s %s at %.0f,%.0f",
               tr->track_id, tr->zone, tr->dir == SK_LINE_IN ? "in" : "out", tr->x, tr->y);
        break;
    case SK_OBS_ZONE_LEAVE:
        sk_log(SK_LOG_DEBUG, "camera", obs->source, "track %u left %s after %u ms", tr->track_id,
               tr->zone, tr->dwell_ms);
        break;
    case SK_OBS_FLOW:
        sk_log(SK_LOG_DEBUG, "camera", obs->source,
               "flow: %u in, %u out, %u in view, %.1f fps, %.2f ms/frame, %u dropped",
               obs->u.flow.entries, obs->u.flow.exits, obs->u.flow.occupancy, obs->u.flow.fps,
               obs->u.flow.proc_ms, obs->u.flow.dropped);
        break;
    default:
        sk_log(SK_LOG_DEBUG, "camera", obs->source, "%s: track %u%s%s at %.0f,%.0f",
               sk_obs_type_name(obs->type), tr->track_id, tr->zone[0] ? " " : "", tr->zone, tr->x,
               tr->y);
        break;
    }
    return 0;
}

static struct cam_thread *find_thread(struct cam_service *s, const char *camera)
{
    for (size_t i = 0; s && i < s->n; i++) {
        if (strcmp(s->threads[i].cfg.name, camera) == 0) {
            return &s->threads[i];
        }
    }
    return NULL;
}

int svc_camera_request_snapshot(void *state, const char *camera, int scale)
{
    struct cam_thread *t = find_thread(state, camera);
    if (!t) {
        return -ENOENT;
    }
    pthread_mutex_lock(&t->snap_lock);
    t->snap_ready = false;
    pthread_mutex_unlock(&t->snap_lock);
    atomic_store(&t->snap_scale, scale < 1 ? 1 : scale > 4 ? 4 : scale);
    return 0;
}

int svc_camera_take_snapshot(
        void *state, const char *camera, void **ret_png, size_t *ret_len, int64_t *ret_wall_us)
{
    struct cam_thread *t = find_thread(state, camera);
    if (!t) {
        return -ENOENT;
    }
    int r = 0;
    pthread_mutex_lock(&t->snap_lock);
    if (t->snap_ready) {
        r = t->snap_err < 0 ? t->snap_err : 1;
        if (r == 1) {
            *ret_png = t->snap_png;
            *ret_len = t->snap_len;
            *ret_wall_us = t->snap_wall_us;
            t->snap_png = NULL;
        }
        t->snap_ready = false;
    }
    pthread_mutex_unlock(&t->snap_lock);
    return r;
}

const struct sk_service sk_camera_service = {
        .name = "camera",
        .start = camera_start,
        .stop = camera_stop,
        .reload = NULL,
        .handle = camera_handle,
};
