/* SPDX-License-Identifier: MIT */
/* The crash loop: the simulated store with `storekeeper run` in a child, SIGKILLed and restarted.
 */
#include "sim_crash.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "sim_mqtt.h"
#include "storekeeper/buf.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/vreader.h"

/*
 * DESIGN
 * A store loses power at any moment; the runtime must lose nothing it recorded and must not
 * record anything twice. `sim --crash N` tests that on the scenario's store:
 *
 *  - The world stays up in this process: the broker, the cloud (a subscriber to the store's
 *    events), the virtual readers and the scenario's timeline. The store, `storekeeper run`,
 *    runs in a child process and is the only thing killed.
 *  - The shoppers and the tags move on one clock, the wall clock from an epoch: the timeline
 *    is applied by it here, and the child's synthetic camera renders the scene file by it
 *    (STOREKEEPER_SYNTH_EPOCH). A restarted runtime sees the store as it is now.
 *  - N kills (SIGKILL, no warning, like a power cut) at random moments of the scenario,
 *    drawn from a seed that is printed; the child is started again right away each time.
 *  - After the scenario, the runtime runs until everything its ledger holds has reached the
 *    cloud (checked by reading the ledger while it runs, as a second reader), then stops
 *    cleanly. Then the checks: every event of the ledger was received at least once; no two
 *    different events share an id (a redelivery is the same payload but for publish_time);
 *    seq has no gaps; integrity_check and the hash chain hold; and the score against the
 *    truth.
 *
 * What the cameras see while the runtime is down is gone: a shopper who took an item or
 * crossed the door then cannot be followed through it. The runtime tells when it is up
 * again (READY=1 on a notify socket, as to systemd); from each kill to that moment plus a
 * warm-up (WARMUP_S: the vision's background, new tracks joined to restored sessions, the
 * presence filter's first polls) is a blind window. Carts are judged by that: a visit the
 * runtime saw whole must be charged exactly; no visit may be charged an item it did not
 * take; the ledger's stock must match the truth. Visits a blind window touched are
 * reported, not judged (docs/reliability.md).
 */

#define TICK_MS       20
#define DRAIN_MAX_S   90.0
#define STOP_WAIT_S   25.0
#define FIRST_KILL_S  3.0
#define RUNTIME_LOG   "runtime.log"
#define SCENE_FILE    "scene.scene"
#define CONTROL_SOCK  "control.sock"
#define LEDGER_FILE   "ledger.db"
#define MAX_KILLS     10000
#define WARMUP_S      2.0
#define NOTIFY_SOCK   "notify.sock"
#define SATELLITE_LOG "satellite.log"

/* SIGINT, SIGTERM or SIGHUP arrived (main() blocks them in every thread; the crash loop has
 * no runtime of its own to receive them, so it asks). */
static bool interrupted(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    struct timespec zero = {0, 0};
    return sigtimedwait(&set, NULL, &zero) > 0;
}

static double now_s(void)
{
    return (double)sk_now_wall_us() / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* xorshift64*: the kill schedule must follow from the printed seed alone. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A datagram socket the runtime writes READY=1 to, as it would to systemd. */
static int notify_open(const char *dir, char *path, size_t size)
{
    snprintf(path, size, "%s/" NOTIFY_SOCK, dir);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
        if (fd >= 0) {
            close(fd);
        }
        return -ENAMETOOLONG;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* True when a READY=1 arrived (other notifications are read and ignored). */
static bool notify_ready(int fd)
{
    char buf[512];
    bool ready = false;
    ssize_t n;
    while (fd >= 0 && (n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
        buf[n] = '\0';
        ready |= strstr(buf, "READY=1") != NULL;
    }
    return ready;
}

/* Starts `storekeeper run -c DIR/CFG` (this very executable), its output appended to DIR/LOG
 * (store.cfg and runtime.log: the hub; satellite.cfg and satellite.log: the satellite of a
 * two-board store). Returns the pid or < 0. */
static pid_t spawn_board(const char *dir,
                         double epoch,
                         const char *notify,
                         const char *cfg_name,
                         const char *log_name)
{
    char cfg[600], log[600], ep[64];
    snprintf(cfg, sizeof(cfg), "%s/%s", dir, cfg_name);
    snprintf(log, sizeof(log), "%s/%s", dir, log_name);
    snprintf(ep, sizeof(ep), "%.6f", epoch);
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setenv("STOREKEEPER_SYNTH_EPOCH", ep, 1);
        if (notify) {
            setenv("NOTIFY_SOCKET", notify, 1);
        }
        /* This very program, even if its file was replaced meanwhile (a rebuild). The
         * simulator may run as root (CI); the runtime then says it may too. */
        const char *exe = "/proc/self/exe";
        if (geteuid() == 0) {
            execl(exe, "storekeeper", "run", "-c", cfg, "--allow-root", (char *)NULL);
        } else {
            execl(exe, "storekeeper", "run", "-c", cfg, (char *)NULL);
        }
        _exit(127);
    }
    return pid;
}

static pid_t spawn(const char *dir, double epoch, const char *notify)
{
    return spawn_board(dir, epoch, notify, "store.cfg", RUNTIME_LOG);
}

static pid_t spawn_satellite(const struct scenario *sc, const char *dir, double epoch)
{
    return sc->boards ? spawn_board(dir, epoch, NULL, "satellite.cfg", SATELLITE_LOG) : 0;
}

/* Waits for pid up to timeout_s; then SIGKILL. Returns its wait status. */
static int reap(pid_t pid, double timeout_s)
{
    double until = now_s() + timeout_s;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (now_s() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        sleep_ms(10);
    }
}

/* ---- reading the ledger (a second reader next to the runtime) ------------------------------ */

struct ids {
    char (*id)[40];
    int64_t *seq;
    size_t n, cap_id, cap_seq;
};

static int collect_id(const struct sk_outbox_row *row, void *ctx)
{
    struct ids *ids = ctx;
    char(*id)[40] = sk_grow(ids->id, &ids->cap_id, ids->n + 1, sizeof(*id), SIM_EVENTS_MAX);
    if (id) {
        ids->id = id;
    }
    int64_t *seq = sk_grow(ids->seq, &ids->cap_seq, ids->n + 1, sizeof(*seq), SIM_EVENTS_MAX);
    if (seq) {
        ids->seq = seq;
    }
    if (!id || !seq) {
        return -ENOMEM;
    }
    snprintf(ids->id[ids->n], sizeof(ids->id[0]), "%s", row->id);
    ids->seq[ids->n++] = row->seq;
    return 0;
}

/* Every event id and seq the ledger's outbox holds, in seq order. */
static int ledger_ids(const char *dir, struct ids *ret, char *msg, size_t msg_size)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/" LEDGER_FILE, dir);
    struct sk_ledger_opts lo = {.path = path, .flags = SK_LEDGER_NO_CHECK};
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&lo, msg, msg_size, &l);
    if (r < 0) {
        return r;
    }
    ret->n = 0;
    int64_t after = 0;
    do {
        size_t before = ret->n;
        r = sk_ledger_outbox_rows(l, after, 1000, false, collect_id, ret);
        after = ret->n > before ? ret->seq[ret->n - 1] : after;
    } while (r == 1000);
    sk_ledger_close(l);
    return r < 0 ? r : 0;
}

/* A two-board store: the hub recorded every observation the satellite's ledger holds (the
 * number of the last one, in both ledgers: docs/operator.md, "Satellite boards"). */
static bool satellite_caught_up(const char *dir)
{
    char path[600], msg[SK_LEDGER_ERRMSG_MAX];
    snprintf(path, sizeof(path), "%s/satellite.db", dir);
    struct sk_ledger_opts lo = {.path = path, .flags = SK_LEDGER_NO_CHECK};
    struct sk_ledger *l = NULL;
    if (sk_ledger_open(&lo, msg, sizeof(msg), &l) < 0) {
        return false;
    }
    struct sk_ledger_info info;
    int64_t sat_n = 0, sat_mark = 0, hub_n = -1, hub_mark = 0;
    bool ok = sk_ledger_get_info(l, &info) == 0 &&
              sk_ledger_origin_seq(l, SIM_SATELLITE, info.ledger_id, &sat_n, &sat_mark) == 0;
    sk_ledger_close(l);
    snprintf(path, sizeof(path), "%s/" LEDGER_FILE, dir);
    lo.path = path;
    l = NULL;
    if (!ok || sk_ledger_open(&lo, msg, sizeof(msg), &l) < 0) {
        return false;
    }
    ok = sk_ledger_origin_seq(l, SIM_SATELLITE, info.ledger_id, &hub_n, &hub_mark) == 0;
    sk_ledger_close(l);
    return ok && hub_n >= sat_n;
}

/* A received payload's id and seq. Returns false when it has none. */
static bool payload_id(const char *payload, char id[40], int64_t *seq)
{
    cJSON *j = cJSON_Parse(payload);
    const cJSON *i = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "seq") : NULL;
    bool ok = i && cJSON_IsString(i) && s && cJSON_IsNumber(s);
    if (ok) {
        snprintf(id, 40, "%s", i->valuestring);
        *seq = (int64_t)s->valuedouble;
    }
    cJSON_Delete(j);
    return ok;
}

/* The payload without publish_time (stamped at every publish, so redeliveries differ there). */
static char *canonical(const char *payload)
{
    cJSON *j = cJSON_Parse(payload);
    if (!j) {
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "publish_time");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void free_events(struct sim_event *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].payload);
    }
    free(e);
}

/* How many of the ledger's ids the cloud has not received yet. */
static size_t undelivered(const struct ids *ledger, struct sim_cloud *cloud)
{
    size_t n_ev = 0;
    struct sim_event *ev = sim_cloud_snapshot(cloud, &n_ev);
    size_t missing = 0;
    for (size_t i = 0; i < ledger->n; i++) {
        bool found = false;
        for (size_t k = 0; k < n_ev && !found; k++) {
            found = strstr(ev[k].payload, ledger->id[i]) != NULL;
        }
        missing += !found;
    }
    for (size_t k = 0; k < n_ev; k++) {
        free(ev[k].payload);
    }
    free(ev);
    return missing;
}

/* ---- the checks ----------------------------------------------------------------------------- */

static void
check_events(const char *dir, const struct sim_result *res, struct sim_crash_report *rep)
{
    /* 1. ids: every copy of one id carries the same event */
    size_t n = res->n_events;
    char(*id)[40] = calloc(n ? n : 1, sizeof(*id));
    int64_t *seq = calloc(n ? n : 1, sizeof(*seq));
    char **canon = calloc(n ? n : 1, sizeof(*canon));
    if (!id || !seq || !canon) {
        rep->check_failed = true;
        snprintf(rep->detail, sizeof(rep->detail), "out of memory");
        free(id);
        free(seq);
        free(canon);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!payload_id(res->events[i].payload, id[i], &seq[i])) {
            rep->unparsable++;
            id[i][0] = '\0';
            continue;
        }
        canon[i] = canonical(res->events[i].payload);
    }
    for (size_t i = 0; i < n; i++) {
        if (!id[i][0]) {
            continue;
        }
        bool first = true;
        for (size_t k = 0; k < i && first; k++) {
            if (strcmp(id[k], id[i]) == 0) {
                first = false;
                rep->redelivered++;
                if (!canon[i] || !canon[k] || strcmp(canon[i], canon[k]) != 0) {
                    rep->id_conflicts++;
                    snprintf(rep->detail, sizeof(rep->detail),
                             "event id %s was received with two different payloads", id[i]);
                }
                if (seq[i] != seq[k]) {
                    rep->id_conflicts++;
                }
            }
        }
        rep->unique += first;
    }
    /* 2. seq: the ledger's outbox is 1..last without a gap, and each seq names one id */
    struct ids led = {0};
    char msg[SK_LEDGER_ERRMSG_MAX];
    if (ledger_ids(dir, &led, msg, sizeof(msg)) < 0) {
        rep->check_failed = true;
        snprintf(rep->detail, sizeof(rep->detail), "%.150s", msg);
    } else {
        rep->ledger_events = led.n;
        for (size_t i = 0; i < led.n; i++) {
            if (led.seq[i] != (int64_t)i + 1) {
                rep->seq_gaps++;
                snprintf(rep->detail, sizeof(rep->detail), "the outbox's seq %lld is row %zu",
                         (long long)led.seq[i], i + 1);
            }
            rep->last_seq = led.seq[i];
        }
        for (size_t i = 0; i < n; i++) {
            /* a received seq names the ledger's event of that seq, nothing else */
            if (id[i][0] &&
                (seq[i] < 1 || (size_t)seq[i] > led.n || strcmp(led.id[seq[i] - 1], id[i]) != 0)) {
                rep->id_conflicts++;
                snprintf(rep->detail, sizeof(rep->detail),
                         "received seq %lld with id %s, which the ledger does not hold there",
                         (long long)seq[i], id[i]);
            }
        }
    }
    free(led.id);
    free(led.seq);
    for (size_t i = 0; i < n; i++) {
        free(canon[i]);
    }
    free(canon);
    free(id);
    free(seq);

    /* 3. the ledger itself: SQLite's integrity_check and the whole book (`ledger verify`):
     * the chain, stock, the movements' events, the outbox digests, and its end against the
     * anchor the runtime kept beside it through every kill */
    char path[600];
    snprintf(path, sizeof(path), "%s/" LEDGER_FILE, dir);
    struct sk_ledger_opts lo = {.path = path, .flags = SK_LEDGER_ANCHOR};
    struct sk_ledger *l = NULL;
    if (sk_ledger_open(&lo, msg, sizeof(msg), &l) < 0) {
        snprintf(rep->integrity, sizeof(rep->integrity), "cannot open: %.100s", msg);
        return;
    }
    char ic[256] = "";
    int r = sk_ledger_integrity_check(l, ic, sizeof(ic));
    snprintf(rep->integrity, sizeof(rep->integrity), "%.100s", r == 0 ? "ok" : ic);
    struct sk_verify_result vr;
    memset(&vr, 0, sizeof(vr));
    r = sk_ledger_verify(l, &vr);
    rep->movements = vr.movements;
    if (r == 0) {
        snprintf(rep->chain, sizeof(rep->chain), "ok");
    } else {
        snprintf(rep->chain, sizeof(rep->chain), "%s, movement %lld: %.150s", vr.check,
                 (long long)vr.first_bad_id, vr.reason[0] ? vr.reason : sk_strerror(r));
    }
    sk_ledger_close(l);
}

/* A command the crash loop sends of its own, whatever the scenario: a product the scenario does
 * not use. Applied once it says "1 product(s) added"; applied again, "0 added, 1 updated". */
#define PROBE_COMMAND                                                                 \
    "{\"request_id\":\"sim-crash-probe\",\"products\":[{\"sku\":\"SIM-CRASH-PROBE\"," \
    "\"name\":\"crash loop probe\",\"price_minor\":1,\"currency\":\"EUR\"}]}"

/* The replies to the cloud's commands: each request applied once (every other reply a repeat
 * with the same outcome), none unanswered. A busy refusal asks for a retry and is not an
 * application. */
static void check_commands(struct sim_cloud *cloud, struct sim_crash_report *rep)
{
    size_t n = 0;
    struct sim_event *r = sim_cloud_replies(cloud, &n);
    rep->command_replies = (int)n;
    char(*ids)[72] = calloc(n ? n : 1, sizeof(*ids));
    int *applied = calloc(n ? n : 1, sizeof(int));
    cJSON **first = calloc(n ? n : 1, sizeof(cJSON *));
    size_t n_ids = 0;
    for (size_t i = 0; ids && applied && first && i < n; i++) {
        cJSON *j = cJSON_Parse(r[i].payload);
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "request_id");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
        bool busy = cJSON_IsString(code) && strcmp(code->valuestring, "busy") == 0;
        if (!cJSON_IsString(rid) || busy) {
            cJSON_Delete(j);
            continue;
        }
        size_t k = 0;
        while (k < n_ids && strcmp(ids[k], rid->valuestring) != 0) {
            k++;
        }
        if (k == n_ids) {
            snprintf(ids[n_ids++], sizeof(ids[0]), "%s", rid->valuestring);
        }
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "repeat")) && ++applied[k] == 2) {
            rep->commands_applied_twice++;
            snprintf(rep->detail, sizeof(rep->detail), "command %s applied twice", ids[k]);
        }
        /* The outcome: everything but the envelope and the repeat marks. */
        static const char *const drop[] = {"id",        "seq",    "time",       "publish_time",
                                           "ledger_id", "repeat", "first_reply"};
        for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]); d++) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, drop[d]);
        }
        if (!first[k]) {
            first[k] = j;
            continue;
        }
        if (!cJSON_Compare(first[k], j, true)) {
            rep->commands_inconsistent++;
            snprintf(rep->detail, sizeof(rep->detail), "command %s answered two ways", ids[k]);
        }
        cJSON_Delete(j);
    }
    rep->commands = (int)sim_cloud_sent(cloud);
    rep->commands_unanswered = rep->commands > (int)n_ids ? rep->commands - (int)n_ids : 0;
    if (rep->commands_unanswered) {
        snprintf(rep->detail, sizeof(rep->detail), "%d command(s) never answered",
                 rep->commands_unanswered);
    }
    for (size_t k = 0; first && k < n_ids; k++) {
        cJSON_Delete(first[k]);
    }
    for (size_t i = 0; i < n; i++) {
        free(r[i].payload);
    }
    free(r);
    free(ids);
    free(applied);
    free(first);
}

/* Visits the runtime saw whole must be exact; none may be charged what it did not take. */
static void judge_carts(const struct scenario *sc,
                        const struct sim_result *res,
                        struct sim_crash_report *rep,
                        const double *from,
                        const double *to,
                        int n_blind)
{
    size_t n = sc->n_visits;
    bool *exact = calloc(n ? n : 1, sizeof(*exact));
    int *phantom = calloc(n ? n : 1, sizeof(*phantom));
    int *missed = calloc(n ? n : 1, sizeof(*missed));
    if (!exact || !phantom || !missed) {
        rep->check_failed = true;
    } else {
        struct sim_score s;
        sim_score_visits(sc, res, &s, exact, phantom, missed);
        rep->phantom = s.phantom; /* also the items of checkouts that match no visit */
        rep->phantom_unreviewed = s.phantom_unreviewed;
        rep->stock_errors = s.stock_errors;
        rep->visits = (int)n;
        for (size_t v = 0; v < n; v++) {
            const struct sc_visit *vi = &sc->visits[v];
            /* the visit, from a second before its entry to the checkout after its exit */
            double a = vi->enter_t - 1.0, b = vi->exit_t + 4.0;
            bool blind = false;
            for (int w = 0; w < n_blind && !blind; w++) {
                blind = from[w] < b && to[w] > a;
            }
            if (blind) {
                rep->blinded++;
                rep->blinded_exact += exact[v];
                rep->blinded_missed += missed[v];
            } else {
                rep->seen++;
                rep->seen_exact += exact[v];
                if (!exact[v]) {
                    snprintf(rep->detail, sizeof(rep->detail),
                             "visit %zu (in %.1f s, out %.1f s), seen whole, was not charged "
                             "exactly",
                             v + 1, vi->enter_t, vi->exit_t);
                }
            }
        }
        if (rep->phantom_unreviewed) {
            snprintf(rep->detail, sizeof(rep->detail),
                     "%d item(s) charged that were not taken, in checkouts not sent to review",
                     rep->phantom_unreviewed);
        }
    }
    free(exact);
    free(phantom);
    free(missed);
}

/* The items themselves, carts or not: every item the truth took out was recorded as departed
 * (a pickup event) and not more often than it left a shelf; no item was charged twice. */
static void
check_items(const struct scenario *sc, const struct sim_result *res, struct sim_crash_report *rep)
{
    size_t n = sc->n_items;
    int *left = calloc(n ? n : 1, sizeof(*left));     /* departures in the truth */
    int *picked = calloc(n ? n : 1, sizeof(*picked)); /* distinct pickup events */
    int *charged = calloc(n ? n : 1, sizeof(*charged));
    bool *taken = calloc(n ? n : 1, sizeof(*taken)); /* in a truth cart */
    char(*seen)[40] = calloc(res->n_events ? res->n_events : 1, sizeof(*seen));
    size_t n_seen = 0;
    if (!left || !picked || !charged || !taken || !seen) {
        rep->check_failed = true;
        goto out;
    }
    for (size_t i = 0; i < sc->n_events; i++) {
        if (sc->events[i].kind == SC_EV_TAG_DEL && sc->events[i].item >= 0 &&
            (size_t)sc->events[i].item < n) {
            left[sc->events[i].item]++;
        }
    }
    for (size_t v = 0; v < sc->n_visits; v++) {
        for (size_t k = 0; k < sc->visits[v].n_cart; k++) {
            taken[sc->visits[v].cart[k]] = true;
        }
    }
    for (size_t e = 0; e < res->n_events; e++) {
        cJSON *j = cJSON_Parse(res->events[e].payload);
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(j, "schema");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if (!cJSON_IsString(schema) || !cJSON_IsString(id)) {
            cJSON_Delete(j);
            continue;
        }
        bool again = false; /* a redelivery counts once */
        for (size_t k = 0; k < n_seen && !again; k++) {
            again = strcmp(seen[k], id->valuestring) == 0;
        }
        if (again) {
            cJSON_Delete(j);
            continue;
        }
        snprintf(seen[n_seen++], sizeof(seen[0]), "%s", id->valuestring);
        const char *kind = strrchr(schema->valuestring, '/');
        kind = kind ? kind + 1 : schema->valuestring;
        if (strcmp(kind, "pickup") == 0) {
            const cJSON *epc = cJSON_GetObjectItemCaseSensitive(j, "epc");
            for (size_t i = 0; cJSON_IsString(epc) && i < n; i++) {
                picked[i] += strcasecmp(sc->items[i].hex, epc->valuestring) == 0;
            }
        } else if (strcmp(kind, "checkout") == 0) {
            const cJSON *line;
            cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(j, "items"))
            {
                const cJSON *epc;
                cJSON_ArrayForEach(epc, cJSON_GetObjectItemCaseSensitive(line, "epcs"))
                {
                    for (size_t i = 0; cJSON_IsString(epc) && i < n; i++) {
                        charged[i] += strcasecmp(sc->items[i].hex, epc->valuestring) == 0;
                    }
                }
            }
        }
        cJSON_Delete(j);
    }
    for (size_t i = 0; i < n; i++) {
        rep->items_taken += taken[i];
        rep->pickups += picked[i];
        if (taken[i] && picked[i] == 0) {
            rep->pickups_missing++;
            snprintf(rep->detail, sizeof(rep->detail),
                     "item %s left its shelf for good; no pickup was recorded", sc->items[i].hex);
        }
        if (picked[i] > left[i]) {
            rep->pickups_extra += picked[i] - left[i];
            snprintf(rep->detail, sizeof(rep->detail),
                     "item %s: %d pickup(s) recorded, it left its shelf %d time(s)",
                     sc->items[i].hex, picked[i], left[i]);
        }
        if (charged[i] > 1) {
            rep->double_charged += charged[i] - 1;
            snprintf(rep->detail, sizeof(rep->detail), "item %s charged in %d checkouts",
                     sc->items[i].hex, charged[i]);
        }
    }
out:
    free(left);
    free(picked);
    free(charged);
    free(taken);
    free(seen);
}

/* ---- the run -------------------------------------------------------------------------------- */

int sim_run_crash(const struct scenario *sc,
                  const struct sim_opts *opts,
                  const struct sim_crash_opts *co,
                  struct sim_result *ret,
                  struct sim_crash_report *rep)
{
    memset(ret, 0, sizeof(*ret));
    memset(rep, 0, sizeof(*rep));
    rep->seed = co->seed;
    if (co->kills < 0 || co->kills > MAX_KILLS) {
        return -EINVAL;
    }
    char dir[256];
    int r = sim_prepare_dir(opts, dir, sizeof(dir));
    if (r < 0) {
        return r;
    }
    snprintf(ret->work_dir, sizeof(ret->work_dir), "%s", dir);
    char scene[600], path[600];
    snprintf(scene, sizeof(scene), "%s/" SCENE_FILE, dir);
    snprintf(path, sizeof(path), "%s/" RUNTIME_LOG, dir);
    unlink(path);
    struct sim_broker broker = {0};
    struct sim_cloud *cloud = NULL;
    struct sk_vreader *vr = NULL;
    char host[128];
    int port = 0;
    if ((r = sim_connect_broker(opts, dir, &broker, host, sizeof(host), &port)) < 0) {
        return r;
    }
    if ((r = sim_cloud_start(host, port, NULL, NULL, &cloud)) < 0 ||
        (r = sim_start_readers(sc, &vr)) < 0 || (r = sim_write_scene(sc, scene)) < 0 ||
        (r = sim_write_store(sc, dir, sk_vreader_port(vr), host, port, opts->verbose, scene)) < 0) {
        fprintf(stderr, "sim: cannot set up the crash loop in %s: %s\n", dir, sk_strerror(r));
        sk_vreader_free(vr);
        sim_cloud_stop(cloud, NULL, NULL);
        sim_broker_stop(&broker);
        return r;
    }

    /* The kill schedule: uniform over the scenario, from the seed. */
    uint64_t rng = co->seed ? co->seed : 1;
    double *kills = calloc((size_t)co->kills + 1, sizeof(double));
    double span = sc->duration - FIRST_KILL_S - 1.0;
    for (int i = 0; kills && i < co->kills; i++) {
        kills[i] = FIRST_KILL_S + (double)(rng_next(&rng) % 1000000) / 1e6 * (span > 1 ? span : 1);
    }
    if (kills) {
        qsort(kills, (size_t)co->kills, sizeof(double), cmp_double);
    }

    char notify_path[600];
    int nfd = notify_open(dir, notify_path, sizeof(notify_path));
    if (nfd < 0) {
        fprintf(stderr, "sim: notify socket in %s: %s\n", dir, sk_strerror(nfd));
    }
    /* Blind windows: [kill, READY + warm-up], scene seconds. */
    double *blind_from = calloc((size_t)co->kills + 1, sizeof(double));
    double *blind_to = calloc((size_t)co->kills + 1, sizeof(double));
    int n_blind = 0;
    bool waiting_ready = false;
    double epoch = now_s();
    ret->t0_wall_us = (int64_t)(epoch * 1e6);
    pid_t child = nfd >= 0 && blind_from && blind_to ? spawn(dir, epoch, notify_path) : -1;
    /* A satellite starts once the hub is up: the hub's broker session (its subscription to the
     * satellites) exists from then on, through every restart of the hub. */
    pid_t satellite = 0;
    bool satellite_due = sc->boards;
    bool probe_sent = false;
    size_t next = 0;
    int k = 0;
    bool stop = false;
    while (kills && child > 0 && !(stop = interrupted())) {
        double t = now_s() - epoch;
        bool ready = notify_ready(nfd);
        if (ready && satellite_due) {
            satellite_due = false;
            satellite = spawn_satellite(sc, dir, epoch);
        }
        if (ready && !probe_sent) {
            sim_cloud_command(cloud, "catalog_upsert", PROBE_COMMAND);
            probe_sent = true;
        }
        if (ready && waiting_ready) {
            blind_to[n_blind - 1] = t + WARMUP_S;
            rep->restart_max_s = fmax(rep->restart_max_s, t - blind_from[n_blind - 1]);
            waiting_ready = false;
        }
        while (next < sc->n_events && sc->events[next].t <= t) {
            sim_apply(sc, vr, cloud, next, &sc->events[next]);
            next++;
        }
        int status;
        if (satellite > 0 && waitpid(satellite, &status, WNOHANG) == satellite) {
            rep->unexpected_exits++;
            fprintf(stderr, "sim: the satellite exited by itself at %.1f s (status 0x%x)\n", t,
                    (unsigned)status);
            satellite = spawn_satellite(sc, dir, epoch);
            continue;
        }
        if (waitpid(child, &status, WNOHANG) == child) {
            /* It died by itself: a crash we did not cause. Count it and start it again. */
            rep->unexpected_exits++;
            fprintf(stderr, "sim: the runtime exited by itself at %.1f s (status 0x%x)\n", t,
                    (unsigned)status);
            sleep_ms(200);
            child = spawn(dir, epoch, notify_path);
            rep->restarts++;
            continue;
        }
        if (k < co->kills && t >= kills[k]) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            rep->kills++;
            k++;
            if (waiting_ready) {
                /* killed again before it was up: one longer blind window */
            } else {
                blind_from[n_blind] = t;
                blind_to[n_blind] = sc->duration + 1e6; /* until it says READY */
                n_blind++;
                waiting_ready = true;
            }
            notify_ready(nfd); /* what the killed one sent is stale */
            if (opts->live) {
                fprintf(opts->out ? opts->out : stdout, "%7.1f s  SIGKILL %d of %d\n", t, k,
                        co->kills);
            }
            child = spawn(dir, epoch, notify_path);
            rep->restarts++;
            /* The cloud saw no replies from the one it killed: it sends everything again (the
             * broker holds it for the runtime's session until it is back). */
            sim_cloud_resend(cloud);
            continue;
        }
        if (t >= sc->duration) {
            break;
        }
        sleep_ms(TICK_MS);
    }
    free(kills);
    if (waiting_ready && notify_ready(nfd)) {
        blind_to[n_blind - 1] = now_s() - epoch + WARMUP_S;
    }

    /* Drain: the runtime delivers what its ledger holds; then a clean stop. */
    double drain_start = now_s();
    struct ids led = {0};
    char msg[SK_LEDGER_ERRMSG_MAX];
    size_t missing = 1;
    while (child > 0 && !stop && now_s() - drain_start < DRAIN_MAX_S) {
        sleep_ms(500);
        if ((stop = interrupted())) {
            break;
        }
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            rep->unexpected_exits++;
            child = spawn(dir, epoch, notify_path);
            rep->restarts++;
            continue;
        }
        /* A satellite's last observations reach the hub first; then the hub's events. */
        if (now_s() - drain_start >= 3.0 && (!sc->boards || satellite_caught_up(dir)) &&
            ledger_ids(dir, &led, msg, sizeof(msg)) == 0) {
            missing = undelivered(&led, cloud);
            if (missing == 0) {
                break;
            }
        }
    }
    rep->drain_s = now_s() - drain_start;
    free(led.id);
    free(led.seq);
    if (!probe_sent) {
        sim_cloud_command(cloud, "catalog_upsert", PROBE_COMMAND);
    }
    /* Last, every command once more: each must come back answered, and applied once only. */
    size_t before = 0;
    /* Two statements: the order in which a call's arguments are evaluated is unspecified,
     * and `before` read ahead of the call leaked every payload. */
    struct sim_event *seen = sim_cloud_replies(cloud, &before);
    free_events(seen, before);
    int want = sim_cloud_resend(cloud);
    for (double t0 = now_s(); child > 0 && !stop && now_s() - t0 < DRAIN_MAX_S;) {
        size_t got = 0;
        struct sim_event *now = sim_cloud_replies(cloud, &got);
        free_events(now, got);
        if (got >= before + (size_t)want) {
            break;
        }
        sleep_ms(100);
    }
    if (satellite > 0) {
        kill(satellite, SIGTERM);
        int status = reap(satellite, STOP_WAIT_S);
        rep->clean_exit_satellite = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    } else {
        rep->clean_exit_satellite = true;
    }
    if (child > 0) {
        kill(child, SIGTERM);
        int status = reap(child, STOP_WAIT_S);
        rep->clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    if (nfd >= 0) {
        close(nfd);
        unlink(notify_path);
    }
    sk_vreader_free(vr);
    /* The runtime stopped cleanly (every PUBACK in): what it published is at the broker; the
     * marker comes back after all of it. */
    if (sim_cloud_flush(cloud, 10000) < 0) {
        fprintf(stderr, "sim: the broker did not return the cloud's marker within 10 s\n");
    }
    check_commands(cloud, rep);
    sim_cloud_stop(cloud, &ret->events, &ret->n_events);
    sim_broker_stop(&broker);
    snprintf(ret->source, sizeof(ret->source), "mqtt");
    if (stop) {
        fprintf(stderr, "sim: interrupted; the store's files are in %s\n", dir);
        free(blind_from);
        free(blind_to);
        return -EINTR;
    }

    r = sim_read_back(dir, ret);
    if (r == 0) {
        check_events(dir, ret, rep);
        /* With the camera on a satellite nothing goes unseen while the hub is down (it waits
         * there), but the hub's fusion loses what it held in memory (tracks, reaches) at a
         * kill: the same windows as on one board. */
        judge_carts(sc, ret, rep, blind_from, blind_to, n_blind);
        check_items(sc, ret, rep);
        r = sim_write_files(sc, ret, dir);
    }
    free(blind_from);
    free(blind_to);
    return r;
}

bool sim_crash_ok(const struct sim_crash_report *rep, const struct sim_result *res)
{
    return !rep->check_failed && rep->unexpected_exits == 0 && rep->clean_exit &&
           rep->clean_exit_satellite && res->n_missing == 0 && rep->id_conflicts == 0 &&
           rep->seq_gaps == 0 && rep->unparsable == 0 && strcmp(rep->integrity, "ok") == 0 &&
           strcmp(rep->chain, "ok") == 0 && rep->phantom_unreviewed == 0 &&
           rep->stock_errors == 0 && rep->seen_exact == rep->seen && rep->pickups_missing == 0 &&
           rep->pickups_extra == 0 && rep->double_charged == 0 &&
           rep->commands_applied_twice == 0 && rep->commands_unanswered == 0 &&
           rep->commands_inconsistent == 0 && rep->commands > 0;
}
