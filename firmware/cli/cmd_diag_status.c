/* SPDX-License-Identifier: MIT */
/* `diag status|all|ledger|reader|bundle`: ask the running daemon, or examine directly without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "cmd_diag.h"
#include "sk_build_info.h"
#include "storekeeper/camera.h"
#include "storekeeper/cli.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/control.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/queue.h"
#include "storekeeper/report.h"
#include "storekeeper/rfid.h"
#include "storekeeper/synth.h"

/*
 * DESIGN
 * A serial port and the ledger have one owner: the daemon. So every command first tries the
 * control socket named in the store file; when the daemon answers, everything comes from it
 * (status, ledger checks, the bus thread's live tag view) and nothing is opened a second time.
 * When nothing answers, the command takes the ledger's owner lock before touching anything:
 * a daemon that runs but does not answer (socket misconfigured or gone) holds that lock, and
 * the command then refuses instead of talking on the RS-485 line behind its back. Without a
 * daemon, the command runs the RFID service itself for a few seconds (the same bus threads,
 * profiles and health rules as the daemon), opens each camera for a few frames, and examines
 * the ledger: the resulting status document has the daemon's shape, so the same checks judge
 * it. Every report says which of the two ways it took.
 */

#define SK_DEFAULT_CONFIG SK_DIAG_DEFAULT_CONFIG
#define PROBE_S_DEFAULT   3.0

struct ctx {
    const char *cmd; /* "diag status" */
    const char *config_path, *board, *socket_override;
    bool config_given; /* -c or $STOREKEEPER_CONFIG, not the default */
    bool json;
    int timeout_ms;
    double probe_s;
    struct sk_config *cfg;
    char sock[SK_PATH_MAX * 2];
    struct sk_ctl_client *cl;                   /* the daemon answers */
    char why_direct[800];                       /* why we went without it */
    struct sk_ledger *ledger;                   /* direct mode: opened as owner, or NULL */
    char ledger_why[SK_LEDGER_ERRMSG_MAX + 64]; /* direct mode: why no ledger */
    char config_error[SK_TEXT_MAX]; /* the file does not load (daemon mode): its first problem */
};

static void common_options_help(FILE *out)
{
    fprintf(out,
            "common options:\n"
            "  -c, --config FILE    store configuration (default $STOREKEEPER_CONFIG or\n"
            "                       " SK_DEFAULT_CONFIG ")\n"
            "  -b, --board NAME     board profile, overriding the file's\n"
            "      --socket PATH    the daemon's control socket (default: control.socket)\n"
            "      --timeout MS     how long to wait for the daemon (default 10000)\n"
            "      --probe S        without a daemon: seconds to poll the readers (default 3)\n"
            "      --json           machine-readable output\n"
            "  -h, --help           this help\n\n"
            "When the daemon runs, the command asks it through its control socket (mode 0660,\n"
            "group control.group) and opens nothing itself. When it does not, the command\n"
            "opens the buses, cameras and the ledger directly, and says so. If a daemon holds\n"
            "the ledger but does not answer, the command refuses to touch the hardware.\n");
}

#define COMMON_OPTS 7 /* rows of the table every subcommand shares */

/* Parses the options every subcommand shares plus its own (extra: a table, or NULL).
 * Returns the index of the first operand, SK_ARGS_HELP or SK_ARGS_ERROR. */
static int parse(struct ctx *c,
                 int argc,
                 char **argv,
                 void (*usage)(FILE *),
                 const struct sk_opt *extra,
                 int max_operands)
{
    c->timeout_ms = 10000;
    c->probe_s = PROBE_S_DEFAULT;
    const char *env = getenv("STOREKEEPER_CONFIG");
    c->config_path = cli_diag_default_config();
    c->config_given = env && env[0];
    const char *config = NULL;
    struct sk_opt table[COMMON_OPTS + 8] = {
            SK_OPT_STRING("config", 'c', &config),
            SK_OPT_STRING("board", 'b', &c->board),
            SK_OPT_STRING("socket", 0, &c->socket_override),
            SK_OPT_INT("timeout", 0, &c->timeout_ms, 100, 600000),
            SK_OPT_DOUBLE("probe", 0, &c->probe_s, 0.5, 60),
            SK_OPT_FLAG("json", 0, &c->json),
            SK_OPT_TABLE_END,
    };
    for (size_t i = 0; extra && extra[i].name && COMMON_OPTS + i < 15; i++) {
        table[COMMON_OPTS - 1 + i] = extra[i];
    }
    const struct sk_args a = {
            .cmd = c->cmd, .opts = table, .usage = usage, .max_operands = max_operands};
    int first = sk_args_parse(&a, argc, argv);
    if (config) {
        c->config_path = config;
        c->config_given = true;
    }
    return first;
}

static void ctx_free(struct ctx *c)
{
    sk_ctl_client_close(c->cl);
    sk_ledger_close(c->ledger);
    sk_config_free(c->cfg);
}

/*
 * The store file does not load, but a daemon may run on its last good configuration (a
 * reload keeps it): the technician must reach it all the same. Tries the control socket
 * (--socket, else control.socket's default) with a configuration of defaults; on an answer
 * says on stderr what is wrong with the file and returns 0; when the file or the socket is
 * not the caller's to read, prints the group hint and returns an exit code; else -1 (the
 * caller prints the problems and exits 2).
 */
static int connect_despite_config(struct ctx *c, const struct sk_diag *diag)
{
    if (access(c->config_path, F_OK) < 0 && errno == ENOENT) {
        return -1; /* no file at all: a daemon there runs on another one */
    }
    static const char defaults[] =
            "store_id = \"unknown\";\ndevice_id = \"unknown\";\nboard = \"generic-x86\";\n";
    struct sk_config_opts copts = {.board_override = c->board};
    struct sk_diag d2;
    sk_diag_init(&d2);
    int r = sk_config_load_text(c->config_path, defaults, sizeof(defaults) - 1, &copts, &d2,
                                &c->cfg);
    sk_diag_free(&d2);
    if (r < 0) {
        c->cfg = NULL;
        return -1;
    }
    if (c->socket_override) {
        snprintf(c->sock, sizeof(c->sock), "%s", c->socket_override);
    } else {
        snprintf(c->sock, sizeof(c->sock), "%s", c->cfg->control.socket);
    }
    int cr = c->sock[0] ? sk_ctl_client_open(c->sock, c->timeout_ms, &c->cl) : -ENOENT;
    if (cr < 0) {
        bool file_denied = access(c->config_path, R_OK) < 0 && errno == EACCES;
        if (cr == -EACCES || file_denied) {
            /* The technician outside the group: one line, the documented fix. */
            fprintf(stderr,
                    "storekeeper %s: not allowed to read %s%s%s: join its group: sudo usermod "
                    "-aG storekeeper $USER (then log in again), or run with sudo\n",
                    c->cmd, file_denied ? c->config_path : "",
                    file_denied && cr == -EACCES ? " or to use the control socket " : "",
                    cr == -EACCES ? c->sock : "");
            sk_config_free(c->cfg);
            c->cfg = NULL;
            return SK_EXIT_FAILURE;
        }
        sk_config_free(c->cfg);
        c->cfg = NULL;
        c->sock[0] = '\0';
        return -1;
    }
    snprintf(c->config_error, sizeof(c->config_error), "%s",
             diag->n ? diag->lines[0] : "it does not load");
    fprintf(stderr,
            "storekeeper %s: WARNING: %s does not load (%zu problem(s); the first: %s). The "
            "daemon keeps its last good configuration; asking it. `storekeeper run -c %s "
            "--check-config` lists every problem.\n",
            c->cmd, c->config_path, diag->n, c->config_error, c->config_path);
    return 0;
}

/*
 * Loads the configuration and finds the daemon. Returns 0 (c->cl set: daemon mode; else
 * direct mode with c->ledger as owner when there is one) or an exit code.
 */
static int connect_ctx(struct ctx *c, bool want_ledger)
{
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = c->board};
    if (sk_config_load(c->config_path, &copts, &diag, &c->cfg) < 0) {
        int dr = connect_despite_config(c, &diag);
        if (dr >= 0) {
            sk_diag_free(&diag);
            return dr;
        }
        if (!c->config_given) {
            fprintf(stderr,
                    "storekeeper %s: no store configuration given (-c STORE.cfg or "
                    "$STOREKEEPER_CONFIG), and the default one is not usable:\n",
                    c->cmd);
        }
        fprintf(stderr, "storekeeper %s: cannot use %s:\n", c->cmd, c->config_path);
        sk_diag_print(&diag, stderr);
        sk_diag_free(&diag);
        return SK_EXIT_USAGE;
    }
    sk_diag_free(&diag);
    if (c->socket_override) {
        snprintf(c->sock, sizeof(c->sock), "%s", c->socket_override);
    } else if (c->cfg->control.socket[0]) {
        sk_config_resolve_path(c->cfg, c->cfg->control.socket, c->sock, sizeof(c->sock));
    }
    int r = c->sock[0] ? sk_ctl_client_open(c->sock, c->timeout_ms, &c->cl) : -ENOENT;
    if (r == 0) {
        return 0;
    }
    if (r == -EACCES) {
        fprintf(stderr,
                "storekeeper %s: not allowed to use the control socket %s: join its group: "
                "sudo usermod -aG %s $USER (then log in again), or run with sudo\n",
                c->cmd, c->sock, c->cfg->control.group[0] ? c->cfg->control.group : "storekeeper");
        return SK_EXIT_FAILURE;
    }
    /* Without a daemon this process runs bus threads itself: keep their chatter out of the
     * report (warnings and errors still show). */
    if (sk_log_get_level() > SK_LOG_WARNING) {
        sk_log_set_level(SK_LOG_WARNING);
    }
    snprintf(c->why_direct, sizeof(c->why_direct), "%s %s: %s",
             c->sock[0] ? "no daemon answers on" : "no control socket configured",
             c->sock[0] ? c->sock : "(control.socket is empty)", strerror(-r));
    char sockdir[sizeof(c->sock)];
    snprintf(sockdir, sizeof(sockdir), "%s", c->sock);
    char *slash = strrchr(sockdir, '/');
    struct stat dst;
    if (slash && slash != sockdir && (*slash = '\0', stat(sockdir, &dst) < 0)) {
        /* A daemon started by hand finds no directory for its socket (systemd makes it). */
        size_t n = strlen(c->why_direct);
        snprintf(c->why_direct + n, sizeof(c->why_direct) - n,
                 " (the directory %s does not exist: a daemon run by hand has no control socket "
                 "until it is made: sudo install -d -o storekeeper -g storekeeper -m 0750 %s)",
                 sockdir, sockdir);
    }
    /* Nobody answers. Is a daemon there all the same? It holds the ledger's owner lock. */
    char path[SK_PATH_MAX * 2], msg[SK_LEDGER_ERRMSG_MAX];
    sk_config_resolve_path(c->cfg, c->cfg->ledger.path, path, sizeof(path));
    struct sk_ledger_opts lo = {.path = path,
                                .store_id = c->cfg->store_id,
                                .device_id = c->cfg->device_id,
                                .busy_timeout_ms = 2000,
                                .flags = SK_LEDGER_OWNER};
    r = sk_ledger_open(&lo, msg, sizeof(msg), &c->ledger);
    if (r == -EBUSY) {
        fprintf(stderr,
                "storekeeper %s: a storekeeper daemon runs (it holds the ledger %s) but does not "
                "answer on its control socket (%s); not opening the buses or the ledger behind "
                "its back. Check control.socket in %s and the daemon's log.\n",
                c->cmd, path, c->why_direct, c->config_path);
        return SK_EXIT_FAILURE;
    }
    if (r < 0) {
        c->ledger = NULL;
        snprintf(c->ledger_why, sizeof(c->ledger_why), "%s", msg);
        if (want_ledger && r != -ENOENT) {
            /* reported by the caller as a ledger FAIL */
        }
    }
    return 0;
}

/* The start of a subcommand without operands: its options, then the daemon or the direct
 * way. Returns 0, or -1 with the exit code in *ret_exit (c freed). */
static int begin(struct ctx *c,
                 int argc,
                 char **argv,
                 void (*usage)(FILE *),
                 const struct sk_opt *extra,
                 bool want_ledger,
                 int *ret_exit)
{
    int r = parse(c, argc, argv, usage, extra, 0);
    if (r < 0) {
        *ret_exit = sk_args_exit(r);
        return -1;
    }
    if ((r = connect_ctx(c, want_ledger)) != 0) {
        ctx_free(c);
        *ret_exit = r;
        return -1;
    }
    return 0;
}

static int ask(struct ctx *c, const char *cmd, cJSON *args, struct sk_ctl_response *resp)
{
    cJSON *req = args ? args : cJSON_CreateObject();
    if (!req) {
        return -ENOMEM;
    }
    cJSON_AddStringToObject(req, "cmd", cmd);
    char err[600];
    int r = sk_ctl_client_call(c->cl, req, c->timeout_ms, resp, err, sizeof(err));
    cJSON_Delete(req);
    if (r < 0) {
        fprintf(stderr, "storekeeper %s: %s (%s)\n", c->cmd, err, c->sock);
        return r;
    }
    if (!resp->ok) {
        fprintf(stderr, "storekeeper %s: the daemon refused %s: %s (%s)\n", c->cmd, cmd,
                resp->message, resp->code);
        return -EPROTO;
    }
    return 0;
}

/* How the report was made, for people. */
static void print_mode(const struct ctx *c, const cJSON *doc)
{
    if (c->cl) {
        printf("via the daemon (pid %.0f, %s)\n",
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "pid")), c->sock);
    } else {
        printf("WITHOUT the daemon (%s): buses, cameras and ledger opened directly\n",
               c->why_direct);
    }
}

/* ---- direct examination (no daemon) -----------------------------------------------------------
 */

struct probe_reader {
    int state, reason;
    char detail[SK_TEXT_MAX];
    uint64_t arrivals, departures;
};

static cJSON *probe_readers(struct ctx *c)
{
    const struct sk_config *cfg = c->cfg;
    cJSON *arr = cJSON_CreateArray();
    if (!arr || cfg->n_readers == 0) {
        return arr;
    }
    struct probe_reader *pr = calloc(cfg->n_readers, sizeof(*pr));
    struct sk_queue *q = NULL;
    struct sk_rfid *rf = NULL;
    struct sk_diag diag;
    sk_diag_init(&diag);
    int r = pr ? sk_queue_new(4096, 3072, 1024, &q) : -ENOMEM;
    if (r == 0) {
        struct sk_rfid_opts o = {.cfg = cfg, .queue = q};
        r = sk_rfid_start(&o, &diag, &rf);
    }
    if (r < 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(stderr, "storekeeper %s: %s\n", c->cmd, diag.lines[i]);
        }
    }
    int64_t end = sk_now_mono_us() + (int64_t)(c->probe_s * 1e6);
    while (rf && sk_now_mono_us() < end) {
        struct sk_obs obs;
        while (sk_queue_pop(q, &obs) == 1) {
            for (size_t i = 0; i < cfg->n_readers; i++) {
                if (strcmp(cfg->readers[i].name, obs.source) != 0) {
                    continue;
                }
                if (obs.type == SK_OBS_READER_HEALTH) {
                    pr[i].state = obs.u.health.state;
                    pr[i].reason = obs.u.health.reason;
                    snprintf(pr[i].detail, sizeof(pr[i].detail), "%s", obs.u.health.detail);
                } else if (obs.type == SK_OBS_TAG_ARRIVED) {
                    pr[i].arrivals++;
                } else if (obs.type == SK_OBS_TAG_DEPARTED) {
                    pr[i].departures++;
                }
            }
            sk_obs_release(&obs);
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < cfg->n_readers; i++) {
        const struct sk_reader_cfg *rc = &cfg->readers[i];
        struct sk_status_health h = {.state = pr ? pr[i].state : SK_HEALTH_UNKNOWN};
        if (!rf) {
            h = (struct sk_status_health){SK_HEALTH_DOWN, SK_REASON_BAD_REPLY,
                                          diag.n ? diag.lines[0] : sk_strerror(r), 0};
        } else if (pr[i].reason) {
            h.reason = pr[i].reason;
            h.detail = pr[i].detail;
        }
        struct sk_rfid_reader_stats rs;
        bool have_rs = rf && sk_rfid_reader_stats(rf, rc->name, &rs) == 0;
        cJSON *o = sk_status_reader_new(cfg, rc, &h, have_rs ? &rs : NULL);
        if (!o) {
            break;
        }
        if (pr) {
            cJSON_AddNumberToObject(o, "arrivals", (double)pr[i].arrivals);
            cJSON_AddNumberToObject(o, "departures", (double)pr[i].departures);
        }
        cJSON_AddItemToArray(arr, o);
    }
    sk_rfid_stop(rf);
    sk_queue_free(q);
    sk_diag_free(&diag);
    free(pr);
    return arr;
}

static cJSON *probe_cameras(struct ctx *c)
{
    const struct sk_config *cfg = c->cfg;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < cfg->n_cameras; i++) {
        const struct sk_camera_cfg *cc = &cfg->cameras[i];
        char device[SK_PATH_MAX * 2] = "";
        if (cc->device[0]) {
            sk_config_resolve_path(cfg, cc->device, device, sizeof(device));
        }
        const char *backend = cc->backend[0] ? cc->backend : cfg->board.camera_backend;
        struct sk_camera_params p = {.backend = backend,
                                     .device = device,
                                     .width = cc->width ? cc->width : cfg->board.camera_width,
                                     .height = cc->height ? cc->height : cfg->board.camera_height,
                                     .fps = cc->fps ? cc->fps : cfg->board.camera_fps,
                                     .realtime = true,
                                     .scene = sk_synth_attached(cc->name)};
        struct sk_camera *cam = NULL;
        int64_t t0 = sk_now_mono_us();
        int r = sk_camera_open(&p, &cam);
        int frames = 0;
        char detail[SK_TEXT_MAX] = "";
        if (r < 0) {
            snprintf(detail, sizeof(detail), "cannot open: %s", sk_strerror(r));
        }
        for (int k = 0; r == 0 && k < 5; k++) {
            struct sk_frame f;
            int e = sk_camera_capture(cam, 2000, &f);
            if (e < 0) {
                snprintf(detail, sizeof(detail), "capture failed: %s", sk_strerror(e));
                break;
            }
            frames++;
        }
        double secs = (double)(sk_now_mono_us() - t0) / 1e6;
        sk_camera_close(cam);
        struct sk_status_health h = {.state = SK_HEALTH_UP};
        if (!frames) {
            h = (struct sk_status_health){SK_HEALTH_DOWN,
                                          r < 0 ? SK_REASON_DISCONNECTED : SK_REASON_NO_FRAMES,
                                          detail, 0};
        }
        cJSON *o = sk_status_camera_new(cfg, cc, &h);
        if (!o) {
            break;
        }
        cJSON_AddNumberToObject(o, "frames_processed", frames);
        cJSON_AddNumberToObject(o, "fps", secs > 0 ? frames / secs : 0);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *direct_status(struct ctx *c)
{
    const struct sk_config *cfg = c->cfg;
    cJSON *d = sk_status_doc_new(cfg, "direct", c->config_path);
    if (!d) {
        return NULL;
    }
    cJSON_AddStringToObject(d, "daemon_detail", c->why_direct);
    cJSON_AddItemToObject(d, "readers", probe_readers(c));
    cJSON_AddItemToObject(d, "cameras", probe_cameras(c));
    cJSON *led = cJSON_AddObjectToObject(d, "ledger");
    if (led) {
        char path[SK_PATH_MAX * 2];
        sk_config_resolve_path(cfg, cfg->ledger.path, path, sizeof(path));
        cJSON_AddStringToObject(led, "path", path);
        struct sk_outbox_stats os;
        if (c->ledger && sk_ledger_outbox_stats(c->ledger, &os) == 0) {
            sk_status_add_outbox(led, &os, sk_now_wall_us());
        } else if (c->ledger_why[0]) {
            cJSON_AddStringToObject(led, "error", c->ledger_why);
        }
    }
    return d;
}

/* The status document, from the daemon or made here. Owned; NULL after a printed error. */
static cJSON *get_status(struct ctx *c)
{
    if (!c->cl) {
        return direct_status(c);
    }
    struct sk_ctl_response resp;
    if (ask(c, "status", NULL, &resp) < 0) {
        sk_ctl_response_clear(&resp);
        return NULL;
    }
    cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(resp.json, "result");
    sk_ctl_response_clear(&resp);
    /* What the daemon runs vs. what the file says now. */
    cJSON *cf = cJSON_GetObjectItemCaseSensitive(d, "config");
    if (cf && c->config_error[0]) {
        cJSON_AddStringToObject(cf, "disk_error", c->config_error);
    } else if (cf) {
        cJSON_AddStringToObject(cf, "hash_on_disk", c->cfg->hash);
    }
    return d;
}

/* The ledger report, from the daemon or from the ledger opened here. Owned or NULL. */
static cJSON *get_ledger(struct ctx *c, size_t max_stock)
{
    if (c->cl) {
        cJSON *args = cJSON_CreateObject();
        struct sk_ctl_response resp;
        if (!args) {
            return NULL;
        }
        cJSON_AddNumberToObject(args, "max_stock", (double)max_stock);
        if (ask(c, "ledger", args, &resp) < 0) {
            sk_ctl_response_clear(&resp);
            return NULL;
        }
        cJSON *l = cJSON_DetachItemFromObjectCaseSensitive(resp.json, "result");
        sk_ctl_response_clear(&resp);
        return l;
    }
    if (!c->ledger) {
        cJSON *l = cJSON_CreateObject();
        if (l) {
            cJSON_AddStringToObject(l, "error", c->ledger_why[0] ? c->ledger_why : "not opened");
        }
        return l;
    }
    return sk_report_ledger(c->ledger, true, max_stock);
}

/* ---- human output ---------------------------------------------------------------------------- */

static const char *s_(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double n_(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const cJSON *o_(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void print_uptime(double s)
{
    long t = (long)s;
    if (t >= 86400) {
        printf("%ldd %ldh", t / 86400, t % 86400 / 3600);
    } else if (t >= 3600) {
        printf("%ldh %ldm", t / 3600, t % 3600 / 60);
    } else if (t >= 60) {
        printf("%ldm %lds", t / 60, t % 60);
    } else {
        printf("%lds", t);
    }
}

static void print_status(const struct ctx *c, const cJSON *d)
{
    printf("storekeeper %s · store %s / %s · board %s\n", s_(d, "version"), s_(d, "store_id"),
           s_(d, "device_id"), s_(d, "board"));
    print_mode(c, d);
    const cJSON *cf = o_(d, "config");
    if (c->cl) {
        printf("uptime      ");
        print_uptime(n_(d, "uptime_s"));
        printf(" (since %s)\n", s_(d, "started"));
    }
    printf("config      %s, hash %.12s%s%s\n", s_(cf, "path"), s_(cf, "hash"),
           s_(cf, "hash_on_disk")[0] && strcmp(s_(cf, "hash_on_disk"), s_(cf, "hash")) != 0
                   ? " (the file changed since: reload to apply)"
           : s_(cf, "disk_error")[0] ? " (the file on disk does not load: "
                                     : "",
           s_(cf, "disk_error")[0] ? s_(cf, "disk_error") : "");
    if (s_(cf, "disk_error")[0]) {
        printf("            the daemon keeps running on this last good configuration)\n");
    }
    const cJSON *rt = o_(d, "runtime");
    if (rt) {
        printf("recording   %s, %.0f batch(es)", s_(rt, "state"), n_(rt, "batches"));
        if (strcmp(s_(rt, "state"), "running") != 0) {
            printf(": %s for %.0f s, %.0f observation(s) held", s_(rt, "degraded_reason"),
                   n_(rt, "degraded_for_s"), n_(rt, "batch_held"));
        }
        printf("\n");
    }
    const cJSON *q = o_(d, "queue");
    if (q) {
        printf("queue       %.0f of %.0f waiting (high mark %.0f, highest %.0f), %.0f dropped, "
               "%.0f waits\n",
               n_(q, "depth"), n_(q, "capacity"), n_(q, "high_mark"), n_(q, "max_depth"),
               n_(q, "dropped"), n_(q, "waits"));
    }
    const cJSON *ob = o_(o_(d, "ledger"), "outbox");
    if (ob) {
        printf("outbox      %.0f pending (oldest %.0f s), last seq %.0f, delivered up to %.0f%s\n",
               n_(ob, "pending"), n_(ob, "oldest_pending_age_s"), n_(ob, "last_seq"),
               n_(ob, "last_delivered_seq"), cJSON_IsTrue(o_(ob, "overflow")) ? ", OVERFLOW" : "");
    }
    const cJSON *m = o_(d, "mqtt");
    if (m) {
        printf("mqtt        %s %s", s_(m, "state"), s_(m, "broker"));
        if (s_(m, "since")[0]) {
            printf(" since %s", s_(m, "since"));
        }
        printf(" (%.0f connect(s), %.0f failure(s))%s%s\n", n_(m, "connects"), n_(m, "failures"),
               s_(m, "detail")[0] ? ": " : "", s_(m, "detail"));
    }
    const cJSON *it;
    if (cJSON_GetArraySize(o_(d, "loops")) > 0) {
        printf("loops      ");
        cJSON_ArrayForEach(it, o_(d, "loops"))
        {
            printf(" %s %.1fs%s", s_(it, "name"), n_(it, "age_ms") / 1000.0,
                   cJSON_IsTrue(o_(it, "stale")) ? " (STALE)" : "");
        }
        printf("\n");
    }
    printf("\n%-16s %-12s %4s %-9s %6s %8s %7s %7s  %s\n", "READER", "BUS", "UNIT", "STATE", "TAGS",
           "POLLS", "ERRORS", "RTT ms", "REASON");
    cJSON_ArrayForEach(it, o_(d, "readers"))
    {
        printf("%-16s %-12s %4.0f %-9s %6.0f %8.0f %7.0f %7.1f  %s%s%s\n", s_(it, "name"),
               s_(it, "bus"), n_(it, "unit"), s_(it, "state"), n_(it, "present"), n_(it, "polls"),
               n_(it, "poll_errors"), n_(it, "rtt_avg_ms"), s_(it, "reason"),
               s_(it, "detail")[0] ? ": " : "", s_(it, "detail"));
    }
    if (cJSON_GetArraySize(o_(d, "readers")) == 0) {
        printf("(no readers configured)\n");
    }
    printf("\n%-16s %-10s %-9s %6s %7s %9s %8s  %s\n", "CAMERA", "BACKEND", "STATE", "FPS",
           "IN VIEW", "IN/OUT", "DROPPED", "REASON");
    cJSON_ArrayForEach(it, o_(d, "cameras"))
    {
        char io[32];
        snprintf(io, sizeof(io), "%.0f/%.0f", n_(it, "entries"), n_(it, "exits"));
        printf("%-16s %-10s %-9s %6.1f %7.0f %9s %8.0f  %s%s%s\n", s_(it, "name"),
               s_(it, "backend"), s_(it, "state"), n_(it, "fps"), n_(it, "occupancy"), io,
               n_(it, "frames_dropped"), s_(it, "reason"), s_(it, "detail")[0] ? ": " : "",
               s_(it, "detail"));
    }
    if (cJSON_GetArraySize(o_(d, "cameras")) == 0) {
        printf("(no cameras configured)\n");
    }
    const cJSON *bt = o_(o_(d, "events"), "by_type");
    if (bt) {
        printf("\nevents since start:");
        bool any = false;
        cJSON_ArrayForEach(it, bt)
        {
            printf("%s %s %.0f", any ? "," : "", it->string, it->valuedouble);
            any = true;
        }
        printf("%s\n", any ? "" : " none");
    }
    const cJSON *h = o_(d, "http");
    if (cJSON_IsTrue(o_(h, "enabled"))) {
        printf("status page %s\n", s_(h, "url"));
    }
}

static void print_ledger(const cJSON *l)
{
    if (s_(l, "error")[0]) {
        printf("ledger      cannot be examined: %s\n", s_(l, "error"));
        return;
    }
    const cJSON *ch = o_(l, "chain"), *cnt = o_(l, "counts"), *ob = o_(l, "outbox");
    printf("ledger      %s (schema %.0f, id %s)\n", s_(l, "path"), n_(l, "schema_version"),
           s_(l, "ledger_id"));
    printf("integrity   %s: %s\n", s_(l, "integrity_check"), s_(l, "integrity"));
    if (cJSON_IsTrue(o_(ch, "ok"))) {
        printf("chain       %.0f movement(s), intact, head %.16s\n", n_(ch, "movements"),
               s_(ch, "head"));
    } else {
        printf("chain       BROKEN at movement %.0f: %s\n", n_(ch, "first_bad_id"),
               s_(ch, "reason"));
    }
    if (cnt) {
        printf("contents    %.0f product(s), %.0f shelf(ves), %.0f tag(s) present, %.0f "
               "session(s), %.0f open discrepancies\n",
               n_(cnt, "products"), n_(cnt, "shelves"), n_(cnt, "present"), n_(cnt, "sessions"),
               n_(cnt, "discrepancies_open"));
        printf("file        %.1f MiB; %.0f MiB free on its file system\n",
               n_(cnt, "file_bytes") / 1048576.0, n_(l, "disk_free_bytes") / 1048576.0);
    }
    if (ob) {
        printf("outbox      %.0f pending, last seq %.0f, delivered up to %.0f\n", n_(ob, "pending"),
               n_(ob, "last_seq"), n_(ob, "last_delivered_seq"));
    }
    const cJSON *st = o_(l, "stock");
    if (st) {
        printf("\nstock: %.0f item(s) on %.0f shelf/sku row(s)\n", n_(st, "total"), n_(st, "rows"));
        printf("%-12s %-20s %8s %8s  %s\n", "SHELF", "SKU", "QTY", "CAPACITY", "NAME");
        const cJSON *it;
        cJSON_ArrayForEach(it, o_(st, "shown"))
        {
            printf("%-12s %-20s %8.0f %8.0f  %s\n", s_(it, "shelf"), s_(it, "sku"),
                   n_(it, "quantity"), n_(it, "capacity"), s_(it, "name"));
        }
        if (n_(st, "rows") > cJSON_GetArraySize(o_(st, "shown"))) {
            printf("(%.0f more rows: storekeeper ledger stock)\n",
                   n_(st, "rows") - cJSON_GetArraySize(o_(st, "shown")));
        }
    }
}

static void print_json(cJSON *j)
{
    char *t = cJSON_Print(j);
    if (t) {
        printf("%s\n", t);
        free(t);
    }
}

/* ---- diag status ------------------------------------------------------------------------------
 */

static void status_usage(FILE *out)
{
    fprintf(out, "usage: storekeeper diag status [-c STORE.cfg] [--json]\n\n"
                 "Uptime, configuration hash, queue depths, outbox backlog, broker state, loop\n"
                 "heartbeats, and per reader and camera: health with the reason, tags, polls,\n"
                 "errors, round trip, frame rate. --json prints the status document\n"
                 "(docs/technician.md describes every field).\n\n");
    common_options_help(out);
    fprintf(out, "\nexit codes: 0 reported, 1 the daemon could not be asked (or refused),\n"
                 "            2 usage or configuration error\n");
}

int cli_diag_status(int argc, char **argv)
{
    struct ctx c = {.cmd = "diag status"};
    int r = 0;
    if (begin(&c, argc, argv, status_usage, NULL, false, &r) < 0) {
        return r;
    }
    cJSON *d = get_status(&c);
    if (!d) {
        ctx_free(&c);
        return SK_EXIT_FAILURE;
    }
    if (c.json) {
        print_json(d);
    } else {
        print_status(&c, d);
    }
    cJSON_Delete(d);
    ctx_free(&c);
    return SK_EXIT_OK;
}

/* ---- diag all ---------------------------------------------------------------------------------
 */

static void all_usage(FILE *out)
{
    fprintf(out, "usage: storekeeper diag all [-c STORE.cfg] [--json]\n\n"
                 "Every check, each PASS, WARN or FAIL with one line of advice for what is not\n"
                 "PASS: the daemon, the configuration, recording, the queue, every loop, every\n"
                 "reader and camera, the broker, the outbox, the ledger's integrity and hash\n"
                 "chain, stock discrepancies and disk space.\n\n");
    common_options_help(out);
    fprintf(out, "\nexit codes: 0 no FAIL (WARNs allowed), 1 at least one FAIL, 2 usage or\n"
                 "            configuration error\n");
}

int cli_diag_all(int argc, char **argv)
{
    struct ctx c = {.cmd = "diag all"};
    int r = 0;
    if (begin(&c, argc, argv, all_usage, NULL, true, &r) < 0) {
        return r;
    }
    cJSON *d = get_status(&c);
    cJSON *l = d ? get_ledger(&c, 0) : NULL;
    if (!d) {
        ctx_free(&c);
        return SK_EXIT_FAILURE;
    }
    struct sk_checks checks = {0};
    int worst = sk_report_checks(d, l, &checks);
    size_t counts[3] = {0, 0, 0};
    for (size_t i = 0; i < checks.n; i++) {
        counts[checks.v[i].level]++;
    }
    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "mode", c.cl ? "daemon" : "direct");
            cJSON_AddStringToObject(o, "result", worst == SK_CHECK_FAIL ? "FAIL" : "PASS");
            cJSON_AddNumberToObject(o, "pass", (double)counts[0]);
            cJSON_AddNumberToObject(o, "warn", (double)counts[1]);
            cJSON_AddNumberToObject(o, "fail", (double)counts[2]);
            cJSON_AddItemToObject(o, "checks", sk_checks_json(&checks));
            print_json(o);
            cJSON_Delete(o);
        }
    } else {
        printf("storekeeper diag all · store %s / %s · ", s_(d, "store_id"), s_(d, "device_id"));
        print_mode(&c, d);
        printf("\n");
        sk_checks_print(&checks, stdout);
        printf("\n%zu PASS, %zu WARN, %zu FAIL\n%s\n", counts[0], counts[1], counts[2],
               worst == SK_CHECK_FAIL ? "FAIL" : "PASS");
    }
    sk_checks_free(&checks);
    cJSON_Delete(d);
    cJSON_Delete(l);
    ctx_free(&c);
    return worst == SK_CHECK_FAIL || worst < 0 ? SK_EXIT_FAILURE : SK_EXIT_OK;
}

/* ---- diag ledger ------------------------------------------------------------------------------
 */

static void ledger_usage(FILE *out)
{
    fprintf(out, "usage: storekeeper diag ledger [-c STORE.cfg] [--stock N] [--json]\n\n"
                 "The ledger's integrity (SQLite integrity_check), the movements' hash chain,\n"
                 "its contents, the outbox, and the stock summary (the first N shelf/sku rows,\n"
                 "default 50). Through the daemon when it runs (it owns the file).\n\n");
    common_options_help(out);
    fprintf(out, "\nexit codes: 0 integrity ok and chain intact, 1 a FAIL (corrupt, chain\n"
                 "            broken, ledger cannot be opened), 2 usage or configuration error\n");
}

int cli_diag_ledger(int argc, char **argv)
{
    struct ctx c = {.cmd = "diag ledger"};
    int stock = 50;
    const struct sk_opt extra[] = {SK_OPT_INT("stock", 0, &stock, 0, 100000), SK_OPT_TABLE_END};
    int r = 0;
    if (begin(&c, argc, argv, ledger_usage, extra, true, &r) < 0) {
        return r;
    }
    cJSON *l = get_ledger(&c, (size_t)stock);
    if (!l) {
        ctx_free(&c);
        return SK_EXIT_FAILURE;
    }
    struct sk_checks checks = {0};
    cJSON *empty = cJSON_CreateObject();
    cJSON_AddStringToObject(empty, "mode", "ledger-only");
    /* only the ledger's own checks */
    sk_checks_free(&checks);
    int worst = SK_CHECK_PASS;
    {
        struct sk_checks all = {0};
        sk_report_checks(empty, l, &all);
        for (size_t i = 0; i < all.n; i++) {
            if (strncmp(all.v[i].subject, "ledger", 6) == 0 ||
                strcmp(all.v[i].subject, "stock") == 0 || strcmp(all.v[i].subject, "disk") == 0) {
                sk_checks_add(&checks, all.v[i].level, all.v[i].subject, all.v[i].advice, "%s",
                              all.v[i].message);
                worst = all.v[i].level > worst ? all.v[i].level : worst;
            }
        }
        sk_checks_free(&all);
    }
    cJSON_Delete(empty);
    if (c.json) {
        cJSON_AddStringToObject(l, "mode", c.cl ? "daemon" : "direct");
        cJSON_AddStringToObject(l, "result", worst == SK_CHECK_FAIL ? "FAIL" : "PASS");
        cJSON_AddItemToObject(l, "checks", sk_checks_json(&checks));
        print_json(l);
    } else {
        if (c.cl) {
            printf("via the daemon (%s)\n", c.sock);
        } else {
            printf("WITHOUT the daemon (%s): ledger opened directly\n", c.why_direct);
        }
        print_ledger(l);
        printf("\n");
        sk_checks_print(&checks, stdout);
        printf("%s\n", worst == SK_CHECK_FAIL ? "FAIL" : "PASS");
    }
    sk_checks_free(&checks);
    cJSON_Delete(l);
    ctx_free(&c);
    return worst == SK_CHECK_FAIL ? SK_EXIT_FAILURE : SK_EXIT_OK;
}

/* ---- diag reader ------------------------------------------------------------------------------
 */

static void reader_usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper diag reader [-c STORE.cfg] NAME [--watch] [--interval S]\n"
            "                                [--count N] [--json]\n\n"
            "When the daemon runs: the reader's health, counters and the tags its presence\n"
            "filter holds, per antenna with the last RSSI, reads and age since the last read,\n"
            "copied by the bus thread right after its next poll of the reader (the daemon owns\n"
            "the bus; nothing is opened a second time). --watch repeats every --interval\n"
            "seconds (default 1) until interrupted or --count views.\n\n"
            "Without a daemon the command polls the reader itself through its profile\n"
            "(`-d, --duration S`, default 3; --watch refreshes every second) and reports tags\n"
            "per antenna with the share of polls that saw them, rates and errors by kind.\n\n");
    common_options_help(out);
    fprintf(out, "\nexit codes: 0 the reader is up (without a daemon: answered at least 90 %% of\n"
                 "            its polls), 1 degraded, down or could not be asked, 2 usage or\n"
                 "            configuration error (unknown reader)\n");
}

struct reader_opts {
    bool watch;
    double interval_s;
    int count;
    double duration_s; /* the direct mode's */
};

static void print_reader_view(const cJSON *v)
{
    const cJSON *r = o_(v, "reader");
    printf("reader %s · bus %s (%s) unit %.0f · profile %s · %s", s_(r, "name"), s_(r, "bus"),
           s_(r, "bus_url"), n_(r, "unit"), s_(r, "profile"), s_(r, "state"));
    if (s_(r, "reason")[0]) {
        printf(" (%s%s%s)", s_(r, "reason"), s_(r, "detail")[0] ? ": " : "", s_(r, "detail"));
    }
    printf("\n");
    printf("polls %.0f, errors %.0f, tag reads %.0f, RTT %.1f ms (avg %.1f), %.0f arrival(s), "
           "%.0f departure(s)\n",
           n_(r, "polls"), n_(r, "poll_errors"), n_(r, "tag_reads"), n_(r, "rtt_ms"),
           n_(r, "rtt_avg_ms"), n_(r, "arrivals"), n_(r, "departures"));
    printf("%.0f tag(s) present%s\n", n_(v, "tags_total"),
           cJSON_IsTrue(o_(v, "fresh")) ? "" : " (no fresh copy from the bus: last known)");
    printf("%4s  %-26s %-15s %9s %7s %8s\n", "ANT", "EPC", "GTIN", "RSSI dBm", "READS", "AGE s");
    const cJSON *it;
    cJSON_ArrayForEach(it, o_(v, "tags"))
    {
        char rssi[16] = "-";
        if (cJSON_IsNumber(o_(it, "rssi_dbm"))) {
            snprintf(rssi, sizeof(rssi), "%.1f", n_(it, "rssi_dbm"));
        }
        printf("%4.0f  %-26s %-15s %9s %7.0f %8.1f\n", n_(it, "antenna"), s_(it, "epc"),
               s_(it, "gtin"), rssi, n_(it, "reads"), n_(it, "age_s"));
    }
}

/* Without a daemon: the RFID issue's own poller (cmd_diag_rfid.c) with the caller's options,
 * while this process holds the ledger's owner lock (no daemon starts meanwhile). */
static int reader_direct(struct ctx *c, const char *name, const struct reader_opts *ro)
{
    fprintf(c->json ? stderr : stdout, "WITHOUT the daemon (%s): the bus is opened directly\n",
            c->why_direct);
    fflush(stdout);
    return cli_diag_reader_poll(c->config_path, name, ro->duration_s, ro->watch, c->json);
}

int cli_diag_reader(int argc, char **argv)
{
    struct ctx c = {.cmd = "diag reader"};
    struct reader_opts ro = {.interval_s = 1.0, .duration_s = 3};
    const struct sk_opt extra[] = {
            SK_OPT_FLAG("watch", 'w', &ro.watch),
            SK_OPT_DOUBLE("interval", 0, &ro.interval_s, 0.2, 3600),
            SK_OPT_INT("count", 0, &ro.count, 1, INT32_MAX),
            SK_OPT_POSITIVE("duration", 'd', &ro.duration_s, 86400),
            SK_OPT_TABLE_END,
    };
    int first = parse(&c, argc, argv, reader_usage, extra, 1);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (first == argc) {
        return sk_cli_usage_error(c.cmd, "give one reader NAME");
    }
    const char *name = argv[first];
    int r = connect_ctx(&c, false);
    if (r != 0) {
        ctx_free(&c);
        return r;
    }
    if (!sk_config_reader(c.cfg, name)) {
        fprintf(stderr, "storekeeper %s: %s has no reader \"%s\"\n", c.cmd, c.config_path, name);
        ctx_free(&c);
        return SK_EXIT_USAGE;
    }
    if (!c.cl) {
        r = reader_direct(&c, name, &ro);
        ctx_free(&c);
        return r;
    }
    int rc = SK_EXIT_OK;
    bool tty = isatty(STDOUT_FILENO) && !c.json;
    for (int n = 0;; n++) {
        cJSON *v;
        {
            cJSON *args = cJSON_CreateObject();
            cJSON_AddStringToObject(args, "name", name);
            struct sk_ctl_response resp;
            if (ask(&c, "reader", args, &resp) < 0) {
                sk_ctl_response_clear(&resp);
                rc = SK_EXIT_FAILURE;
                break;
            }
            v = cJSON_DetachItemFromObjectCaseSensitive(resp.json, "result");
            sk_ctl_response_clear(&resp);
        }
        if (!v) {
            rc = SK_EXIT_FAILURE;
            break;
        }
        rc = strcmp(s_(o_(v, "reader"), "state"), "up") == 0 ? SK_EXIT_OK : SK_EXIT_FAILURE;
        if (c.json) {
            cJSON_AddStringToObject(v, "mode", "daemon");
            char *t = cJSON_PrintUnformatted(v);
            printf("%s\n", t ? t : "{}");
            free(t);
        } else {
            if (tty && ro.watch) {
                printf("\033[H\033[J");
            }
            if (ro.watch) {
                char ts[40];
                printf("%s\n", sk_format_time_utc(sk_now_wall_us(), ts, sizeof(ts)));
            }
            printf("via the daemon (%s)\n", c.sock);
            print_reader_view(v);
        }
        fflush(stdout);
        cJSON_Delete(v);
        if (!ro.watch || (ro.count && n + 1 >= ro.count)) {
            break;
        }
        struct timespec ts = {(time_t)ro.interval_s,
                              (long)((ro.interval_s - (double)(time_t)ro.interval_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    ctx_free(&c);
    return rc;
}

/* ---- diag modbus (guard) ------------------------------------------------------------------- */

/*
 * `diag modbus scan BUS -c STORE.cfg` talks on the bus itself. A store-file bus that the
 * daemon polls is left alone when it is RS-485 (a second master garbles both); Modbus/TCP
 * devices usually accept a second connection, so there it only says so.
 */
int cli_diag_modbus(int argc, char **argv)
{
    const char *config = NULL, *bus = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "-u") == 0 || strcmp(argv[i], "--units") == 0 ||
                   strcmp(argv[i], "--address") == 0 || strcmp(argv[i], "--timeout-ms") == 0) {
            i++;
        } else if (argv[i][0] != '-' && strcmp(argv[i], "scan") != 0 && !bus) {
            bus = argv[i];
        }
    }
    if (!config || !bus) {
        return cli_diag_modbus_direct(argc, argv);
    }
    struct ctx c = {.cmd = "diag modbus", .config_path = config, .timeout_ms = 3000};
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config *cfg = NULL;
    int r = sk_config_load(config, NULL, &diag, &cfg);
    sk_diag_free(&diag);
    const struct sk_bus_cfg *b = r == 0 ? sk_config_bus(cfg, bus) : NULL;
    bool rtu = b && strncmp(b->url, "rtu:", 4) == 0;
    sk_config_free(cfg);
    if (!b) {
        return cli_diag_modbus_direct(argc, argv); /* it reports the problem */
    }
    if (connect_ctx(&c, false) == SK_EXIT_FAILURE || c.cl) {
        /* a daemon answers, or holds the ledger without answering */
        if (rtu) {
            fprintf(stderr,
                    "storekeeper diag modbus: the running daemon polls bus %s (RS-485: one master "
                    "only); scanning it now would garble both. Ask the daemon instead "
                    "(storekeeper diag status, diag reader NAME) or stop it first (systemctl "
                    "stop storekeeper).\n",
                    bus);
            ctx_free(&c);
            return SK_EXIT_FAILURE;
        }
        fprintf(stderr,
                "storekeeper diag modbus: note: the running daemon also polls bus %s "
                "(Modbus/TCP: a second connection)\n",
                bus);
    }
    ctx_free(&c);
    return cli_diag_modbus_direct(argc, argv);
}

/* ---- diag mqtt (the daemon's link first) --------------------------------------------------- */

/*
 * The MQTT issue's `diag mqtt` makes a test connection of its own (its own client id: the
 * daemon's session is not disturbed) and a round trip. When the daemon runs, the state of
 * the store's own connection comes first, from the daemon: a test that passes while the
 * daemon's link is down points at the daemon's settings, not at the broker.
 */
int cli_diag_mqtt(int argc, char **argv)
{
    const char *config = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            int r = cli_diag_mqtt_direct(argc, argv);
            printf("\nWhen the daemon runs, the state of its own broker connection (from its\n"
                   "control socket) is printed first, and a link that is down is a FAIL.\n");
            return r;
        }
    }
    if (!config || json) {
        return cli_diag_mqtt_direct(argc, argv);
    }
    struct ctx c = {
            .cmd = "diag mqtt", .config_path = config, .config_given = true, .timeout_ms = 5000};
    bool link_down = false;
    struct sk_diag diag;
    sk_diag_init(&diag);
    int lr = sk_config_load(config, NULL, &diag, &c.cfg);
    sk_diag_free(&diag);
    if (lr == 0) {
        if (c.cfg->control.socket[0]) {
            sk_config_resolve_path(c.cfg, c.cfg->control.socket, c.sock, sizeof(c.sock));
        }
        if (c.sock[0] && sk_ctl_client_open(c.sock, c.timeout_ms, &c.cl) == 0) {
            cJSON *d = get_status(&c);
            const cJSON *m = o_(d, "mqtt");
            if (m) {
                const char *state = s_(m, "state");
                printf("the store's own connection (via the daemon, %s): %s %s", c.sock, state,
                       s_(m, "broker"));
                if (s_(m, "since")[0]) {
                    printf(" since %s", s_(m, "since"));
                }
                if (s_(m, "detail")[0]) {
                    printf(": %s", s_(m, "detail"));
                }
                printf("; %.0f connect(s), %.0f failure(s); outbox %.0f pending\n",
                       n_(m, "connects"), n_(m, "failures"),
                       n_(o_(o_(d, "ledger"), "outbox"), "pending"));
                link_down = cJSON_IsTrue(o_(m, "enabled")) && strcmp(state, "connected") != 0;
            }
            cJSON_Delete(d);
            printf("a test connection of this command's own:\n");
            fflush(stdout);
        }
    }
    ctx_free(&c);
    int r = cli_diag_mqtt_direct(argc, argv);
    if (link_down && r == SK_EXIT_OK) {
        printf("FAIL: the broker answers this test but the daemon's own connection is down: "
               "check the daemon's log (journalctl -u storekeeper) and restart it\n");
        r = SK_EXIT_FAILURE;
    }
    return r;
}

/* ---- diag camera (the daemon first) ------------------------------------------------------------
 */

/*
 * A V4L2 or libcamera device has one owner: while the daemon runs, `diag camera NAME
 * --snapshot out.png` asks the daemon's camera thread for the annotated frame (kept in the
 * daemon's memory for the status page for ten minutes, never on its disk), and without
 * --snapshot shows the daemon's figures. File and synthetic cameras can be opened twice, so
 * there the vision issue's own capture runs as well.
 */
int cli_diag_camera(int argc, char **argv)
{
    static const char *const valued[] = {"-c",       "--config",   "-b",      "--board",
                                         "--frames", "--snapshot", "--scale", "--backend"};
    const char *config = NULL, *board = NULL, *snapshot = NULL, *name = NULL;
    long scale = 2;
    bool json = false, calibrate = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = false;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
            takes |= strcmp(a, valued[k]) == 0;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "--list") == 0) {
            int r = cli_diag_camera_direct(argc, argv);
            if (strcmp(a, "--list") != 0) {
                printf("\nWhile the daemon runs, --snapshot asks its camera thread (the device\n"
                       "has one owner); the status page then shows the picture for ten minutes.\n");
            }
            return r;
        }
        if (takes && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                config = v;
            } else if (strcmp(a, "-b") == 0 || strcmp(a, "--board") == 0) {
                board = v;
            } else if (strcmp(a, "--snapshot") == 0) {
                snapshot = v;
            } else if (strcmp(a, "--scale") == 0) {
                scale = strtol(v, NULL, 10);
            }
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--calibrate") == 0) {
            calibrate = true;
        } else if (a[0] != '-' && !name) {
            name = a;
        }
    }
    struct ctx c = {.cmd = "diag camera",
                    .config_path = config,
                    .config_given = true,
                    .board = board,
                    .timeout_ms = 10000};
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = board};
    bool daemon = false;
    if (config && name && sk_config_load(config, &copts, &diag, &c.cfg) == 0 &&
        sk_config_camera(c.cfg, name) && c.cfg->control.socket[0]) {
        sk_config_resolve_path(c.cfg, c.cfg->control.socket, c.sock, sizeof(c.sock));
        daemon = sk_ctl_client_open(c.sock, c.timeout_ms, &c.cl) == 0;
    }
    sk_diag_free(&diag);
    if (!daemon) {
        ctx_free(&c);
        return cli_diag_camera_direct(argc, argv);
    }
    const struct sk_camera_cfg *cc = sk_config_camera(c.cfg, name);
    const char *backend = cc->backend[0] ? cc->backend : c.cfg->board.camera_backend;
    bool shared = strcmp(backend, "file") == 0 || strcmp(backend, "synthetic") == 0;
    int rc = SK_EXIT_OK;
    if (calibrate && !shared && !cc->has_floor) { /* says what to give it; no snapshot */
        rc = cli_diag_camera_calibration(c.cfg, name, NULL, json);
        ctx_free(&c);
        return rc;
    }
    if (snapshot && (!calibrate || !shared)) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "camera", name);
        cJSON_AddNumberToObject(args, "scale", (double)scale);
        struct sk_ctl_response resp;
        if (ask(&c, "snapshot", args, &resp) < 0) {
            rc = SK_EXIT_FAILURE;
        } else {
            FILE *f = fopen(snapshot, "wb");
            if (!f || fwrite(resp.data, 1, resp.data_len, f) != resp.data_len || fclose(f) != 0) {
                fprintf(stderr, "storekeeper diag camera: cannot write %s: %s\n", snapshot,
                        strerror(errno));
                rc = SK_EXIT_FAILURE;
            } else if (calibrate) {
                rc = cli_diag_camera_calibration(c.cfg, name, snapshot, json);
            } else if (json) {
                printf("{\"camera\":\"%s\",\"mode\":\"daemon\",\"snapshot\":\"%s\","
                       "\"bytes\":%zu,\"result\":\"PASS\"}\n",
                       name, snapshot, resp.data_len);
            } else {
                printf("via the daemon (%s): camera %s's next processed frame, zones, lines, blobs "
                       "and tracks drawn\n  snapshot     %s (%zu bytes; the status page shows it "
                       "for 10 min, it is kept in memory only)\nPASS\n",
                       c.sock, name, snapshot, resp.data_len);
            }
        }
        sk_ctl_response_clear(&resp);
        ctx_free(&c);
        return rc;
    }
    if (calibrate && !shared) { /* the device is the daemon's: the report needs no frame */
        rc = cli_diag_camera_calibration(c.cfg, name, NULL, json);
        ctx_free(&c);
        return rc;
    }
    if (shared) {
        fprintf(stderr,
                "storekeeper diag camera: note: the daemon runs; a %s camera can be "
                "opened a second time\n",
                backend);
        ctx_free(&c);
        return cli_diag_camera_direct(argc, argv);
    }
    cJSON *d = get_status(&c);
    const cJSON *it, *cam = NULL;
    cJSON_ArrayForEach(it, o_(d, "cameras"))
    {
        if (strcmp(s_(it, "name"), name) == 0) {
            cam = it;
        }
    }
    if (json) {
        print_json((cJSON *)cam);
    } else if (cam) {
        printf("via the daemon (%s): it owns the %s device, so it is not opened here\n"
               "camera %s: %s%s%s, %.1f fps processed, %.2f ms/frame, %.0f in view, %.0f "
               "dropped, %.0f in / %.0f out\n",
               c.sock, backend, name, s_(cam, "state"), s_(cam, "reason")[0] ? " " : "",
               s_(cam, "reason"), n_(cam, "fps"), n_(cam, "proc_ms"), n_(cam, "occupancy"),
               n_(cam, "frames_dropped"), n_(cam, "entries"), n_(cam, "exits"));
    }
    rc = cam && strcmp(s_(cam, "state"), "up") == 0 ? SK_EXIT_OK : SK_EXIT_FAILURE;
    if (!json) {
        printf("%s\n", rc == SK_EXIT_OK ? "PASS" : "FAIL");
    }
    cJSON_Delete(d);
    ctx_free(&c);
    return rc;
}

/* ---- diag bundle ------------------------------------------------------------------------------
 */

static void bundle_usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper diag bundle [-c STORE.cfg] OUT.tar.gz\n\n"
            "A support bundle for a ticket: the store file with secrets removed (passwords,\n"
            "tokens, staff badge EPCs; credential and key files are never included), the board\n"
            "profile, the status document, every check, the metrics, the ledger report, the\n"
            "daemon's recent log lines (log.recent_lines; without a daemon: the journal, if\n"
            "readable) and a few system facts. No images, no shopper data.\n\n");
    common_options_help(out);
    fprintf(out,
            "\nexit codes: 0 written, 1 could not be written, 2 usage or configuration error\n");
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -errno;
    }
    fputs(text ? text : "", f);
    return fclose(f) == 0 ? 0 : -errno;
}

static int write_json(const char *dir, const char *name, const cJSON *j)
{
    char *t = j ? cJSON_Print(j) : NULL;
    int r = write_file(dir, name, t ? t : "null");
    free(t);
    return r;
}

/* Keys whose values never leave the device. */
static bool secret_key(const char *k, size_t n)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "psk"};
    char low[64];
    if (n >= sizeof(low)) {
        n = sizeof(low) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    }
    low[n] = '\0';
    if (strcmp(low, "epc") == 0) {
        return true; /* staff badges: a copied badge EPC opens restock sessions */
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(low, words[i])) {
            return true;
        }
    }
    return false;
}

/* Copies a libconfig file, replacing the values of secret keys by "<removed>". Returns how
 * many values were removed, or -errno. */
static int redact_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r");
    if (!in) {
        return -errno;
    }
    FILE *out = fopen(dst, "w");
    if (!out) {
        int e = errno;
        fclose(in);
        return -e;
    }
    char line[4096];
    int removed = 0;
    while (fgets(line, sizeof(line), in)) {
        char res[8192];
        size_t o = 0;
        const char *p = line;
        /* every "NAME = VALUE" or "NAME: VALUE" on the line (groups put several on one) */
        while (*p && o + 64 < sizeof(res)) {
            if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                size_t rest = strlen(p);
                if (o + rest >= sizeof(res)) {
                    rest = sizeof(res) - o - 1;
                }
                memcpy(res + o, p, rest);
                o += rest;
                break;
            }
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_') {
                const char *k = p;
                while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                       (*p >= '0' && *p <= '9') || *p == '_' || *p == '-') {
                    p++;
                }
                size_t klen = (size_t)(p - k);
                memcpy(res + o, k, klen);
                o += klen;
                const char *q = p;
                while (*q == ' ' || *q == '\t') {
                    q++;
                }
                if ((*q == '=' || *q == ':') && secret_key(k, klen)) {
                    q++;
                    while (*q == ' ' || *q == '\t') {
                        q++;
                    }
                    const char *v = q;
                    if (*v == '"') {
                        v++;
                        while (*v && *v != '"') {
                            v += (*v == '\\' && v[1]) ? 2 : 1;
                        }
                        if (*v == '"') {
                            v++;
                        }
                    } else {
                        while (*v && *v != ';' && *v != ',' && *v != '}' && *v != '\n') {
                            v++;
                        }
                    }
                    o += (size_t)snprintf(res + o, sizeof(res) - o, " = \"<removed>\"");
                    p = v;
                    removed++;
                }
                continue;
            }
            if (*p == '"') { /* copy strings whole: no keys inside them */
                const char *v = p + 1;
                while (*v && *v != '"') {
                    v += (*v == '\\' && v[1]) ? 2 : 1;
                }
                if (*v == '"') {
                    v++;
                }
                size_t len = (size_t)(v - p);
                if (o + len >= sizeof(res)) {
                    len = sizeof(res) - o - 1;
                }
                memcpy(res + o, p, len);
                o += len;
                p = v;
                continue;
            }
            res[o++] = *p++;
        }
        res[o] = '\0';
        fputs(res, out);
    }
    fclose(in);
    return fclose(out) == 0 ? removed : -errno;
}

static char *lines_text(const cJSON *lines)
{
    size_t len = 1;
    const cJSON *it;
    cJSON_ArrayForEach(it, lines)
    {
        len += strlen(cJSON_IsString(it) ? it->valuestring : "") + 1;
    }
    char *t = malloc(len);
    if (!t) {
        return NULL;
    }
    size_t o = 0;
    cJSON_ArrayForEach(it, lines)
    {
        const char *s = cJSON_IsString(it) ? it->valuestring : "";
        size_t n = strlen(s);
        memcpy(t + o, s, n);
        o += n;
        t[o++] = '\n';
    }
    t[o] = '\0';
    return t;
}

/* Runs argv, its output into path (may be NULL: discarded). Returns the exit status or -errno. */
static int run_to(char *const argv[], const char *path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, path ? path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0640);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    extern char **environ;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        return -r;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -ECHILD;
}

static void system_facts(const struct ctx *c, const char *dir)
{
    char text[8192];
    size_t o = 0;
    struct utsname u;
    if (uname(&u) == 0) {
        o += (size_t)snprintf(text + o, sizeof(text) - o, "uname: %s %s %s %s\n", u.sysname,
                              u.nodename, u.release, u.machine);
    }
    static const char *const files[] = {"/etc/os-release", "/proc/uptime", "/proc/loadavg"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && o < sizeof(text); i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            continue;
        }
        o += (size_t)snprintf(text + o, sizeof(text) - o, "--- %s\n", files[i]);
        char line[256];
        while (o < sizeof(text) - 1 && fgets(line, sizeof(line), f)) {
            o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", line);
        }
        fclose(f);
    }
    char path[SK_PATH_MAX * 2], ldir[SK_PATH_MAX * 2];
    sk_config_resolve_path(c->cfg, c->cfg->ledger.path, path, sizeof(path));
    snprintf(ldir, sizeof(ldir), "%s", path);
    char *slash = strrchr(ldir, '/');
    if (slash) {
        *slash = '\0';
    }
    struct statvfs vfs;
    if (o < sizeof(text) && statvfs(ldir[0] ? ldir : ".", &vfs) == 0) {
        snprintf(text + o, sizeof(text) - o, "--- ledger directory %s: %.1f MiB free of %.1f MiB\n",
                 ldir, (double)vfs.f_bavail * vfs.f_frsize / 1048576.0,
                 (double)vfs.f_blocks * vfs.f_frsize / 1048576.0);
    }
    write_file(dir, "system.txt", text);
}

int cli_diag_bundle(int argc, char **argv)
{
    struct ctx c = {.cmd = "diag bundle"};
    int first = parse(&c, argc, argv, bundle_usage, NULL, 1);
    if (first < 0) {
        return sk_args_exit(first);
    }
    if (first != argc - 1) {
        return sk_cli_usage_error(c.cmd, "give the bundle's file name, e.g. support.tar.gz");
    }
    const char *out = argv[first];
    int r;
    if ((r = connect_ctx(&c, true)) != 0) {
        ctx_free(&c);
        return r;
    }
    char tmpl[] = "/tmp/storekeeper-bundle-XXXXXX";
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "storekeeper %s: cannot make a temporary directory: %s\n", c.cmd,
                strerror(errno));
        ctx_free(&c);
        return SK_EXIT_FAILURE;
    }
    char name[128], stamp[32], dir[PATH_MAX + 160];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof(name), "storekeeper-%s-%s-%s", c.cfg->store_id, c.cfg->device_id, stamp);
    snprintf(dir, sizeof(dir), "%s/%s", tmpl, name);
    char cfgdir[sizeof(dir) + 16];
    snprintf(cfgdir, sizeof(cfgdir), "%s/config", dir);
    if (mkdir(dir, 0750) < 0 || mkdir(cfgdir, 0750) < 0) {
        fprintf(stderr, "storekeeper %s: cannot write in %s: %s\n", c.cmd, tmpl, strerror(errno));
        ctx_free(&c);
        return SK_EXIT_FAILURE;
    }
    /* what the daemon (or this command) sees */
    cJSON *d = get_status(&c);
    cJSON *l = get_ledger(&c, 1000);
    struct sk_checks checks = {0};
    if (d) {
        sk_report_checks(d, l, &checks);
    }
    write_json(dir, "status.json", d);
    write_json(dir, "ledger.json", l);
    cJSON *cj = sk_checks_json(&checks);
    write_json(dir, "checks.json", cj);
    cJSON_Delete(cj);
    char ctext[16384];
    FILE *mf = fmemopen(ctext, sizeof(ctext), "w");
    if (mf) {
        sk_checks_print(&checks, mf);
        fclose(mf);
        ctext[sizeof(ctext) - 1] = '\0';
        write_file(dir, "checks.txt", ctext);
    }
    char *metrics = d ? sk_report_metrics(d) : NULL;
    write_file(dir, "metrics.txt", metrics);
    free(metrics);
    /* recent log lines */
    const char *log_source;
    char logpath[sizeof(dir) + 16];
    snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);
    if (c.cl) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddNumberToObject(args, "max", 20000);
        struct sk_ctl_response resp;
        if (ask(&c, "log", args, &resp) == 0) {
            char *t = lines_text(o_(resp.result, "lines"));
            write_file(dir, "log.txt", t);
            free(t);
        }
        sk_ctl_response_clear(&resp);
        log_source = "the daemon's recent lines (log.recent_lines)";
    } else {
        char *const jargv[] = {(char *)"journalctl",
                               (char *)"-u",
                               (char *)"storekeeper",
                               (char *)"-n",
                               (char *)"2000",
                               (char *)"--no-pager",
                               NULL};
        int jr = run_to(jargv, logpath);
        log_source = jr == 0 ? "journalctl -u storekeeper -n 2000 (no daemon running)"
                             : "none: no daemon running and no journal readable";
        if (jr != 0) {
            write_file(dir, "log.txt",
                       "(no log: the daemon does not run and the journal could "
                       "not be read)\n");
        }
    }
    /* configuration */
    char dst[sizeof(cfgdir) + 16];
    snprintf(dst, sizeof(dst), "%s/store.cfg", cfgdir);
    int removed = redact_copy(c.config_path, dst);
    if (c.cfg->board.path[0]) {
        snprintf(dst, sizeof(dst), "%s/board.cfg", cfgdir);
        redact_copy(c.cfg->board.path, dst);
    }
    char summary[16384];
    FILE *sf = fmemopen(summary, sizeof(summary), "w");
    if (sf) {
        sk_config_write_summary(c.cfg, sf);
        fclose(sf);
        summary[sizeof(summary) - 1] = '\0';
        write_file(cfgdir, "summary.txt", summary);
    }
    system_facts(&c, dir);
    char readme[4096];
    char ts[40];
    snprintf(readme, sizeof(readme),
             "storekeeper support bundle\n"
             "store %s, device %s, made %s by storekeeper %s %s\n\n"
             "status.json   the status document (docs/technician.md)\n"
             "checks.txt    diag all: PASS/WARN/FAIL with advice (checks.json: the same)\n"
             "metrics.txt   Prometheus text of the status document\n"
             "ledger.json   integrity, hash chain, counts, outbox, stock (first 1000 rows)\n"
             "log.txt       %s\n"
             "config/       store.cfg (%d secret value(s) replaced by <removed>), board.cfg,\n"
             "              summary.txt; credential and key files are not included\n"
             "system.txt    kernel, OS, uptime, load, free space where the ledger lives\n",
             c.cfg->store_id, c.cfg->device_id,
             sk_format_time_utc(sk_now_wall_us(), ts, sizeof(ts)), SK_VERSION,
             c.cl ? "through the daemon" : "without a daemon", log_source,
             removed < 0 ? 0 : removed);
    write_file(dir, "README.txt", readme);
    char outabs[PATH_MAX * 2];
    if (out[0] == '/') {
        snprintf(outabs, sizeof(outabs), "%s", out);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            snprintf(cwd, sizeof(cwd), ".");
        }
        snprintf(outabs, sizeof(outabs), "%s/%s", cwd, out);
    }
    /* The bundle holds logs and the store's configuration: not for others, whatever the umask
     * (0640, like the ledger). Made before tar writes it: tar keeps an existing file's mode. */
    int ofd = open(outabs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (ofd >= 0) {
        fchmod(ofd, 0640);
        close(ofd);
    }
    char *const targv[] = {(char *)"tar", (char *)"-czf", outabs, (char *)"-C", tmpl, name, NULL};
    mode_t old_mask = umask(027);
    int tr = ofd >= 0 ? run_to(targv, NULL) : -errno;
    umask(old_mask);
    char *const rmargv[] = {(char *)"rm", (char *)"-rf", tmpl, NULL};
    run_to(rmargv, NULL);
    int rc = SK_EXIT_OK;
    if (tr != 0) {
        fprintf(stderr, "storekeeper %s: tar could not write %s (%s)\n", c.cmd, out,
                tr < 0 ? strerror(-tr) : "tar failed");
        rc = SK_EXIT_FAILURE;
    } else if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bundle", outabs);
        cJSON_AddStringToObject(o, "mode", c.cl ? "daemon" : "direct");
        cJSON_AddNumberToObject(o, "secrets_removed", removed < 0 ? 0 : removed);
        print_json(o);
        cJSON_Delete(o);
    } else {
        struct stat st;
        stat(outabs, &st);
        printf("wrote %s (%.1f KiB, %s; %d secret value(s) removed from the store file)\n", out,
               (double)st.st_size / 1024.0, c.cl ? "through the daemon" : "without a daemon",
               removed < 0 ? 0 : removed);
    }
    sk_checks_free(&checks);
    cJSON_Delete(d);
    cJSON_Delete(l);
    ctx_free(&c);
    return rc;
}
