/* SPDX-License-Identifier: MIT */
/* `storekeeper sim reader`: virtual readers on a TCP port or a pty, controlled while running. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sim_internal.h"
#include "storekeeper/args.h"
#include "storekeeper/clock.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/loop.h"
#include "storekeeper/profile.h"
#include "storekeeper/vreader.h"

#define MAX_CONTROL  8
#define LINE_MAX_CMD 512

static void usage(FILE *out)
{
    fprintf(out,
            "usage: storekeeper sim reader --listen ENDPOINT [OPTIONS]\n\n"
            "Runs virtual RFID readers: one Modbus server answering several unit ids, each\n"
            "playing the device side of a reader profile with a tag population that can be\n"
            "changed, and faults that can be injected, while it runs.\n\n"
            "endpoints:\n"
            "  tcp:HOST:PORT                 Modbus/TCP server (port 0: any free port)\n"
            "  rtu:DEVICE[:BAUD:FRAME]       Modbus RTU slave on a serial device or pty\n"
            "                                (default 115200:8E1), e.g. one end of\n"
            "                                socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B\n\n"
            "options:\n"
            "  -l, --listen ENDPOINT   where to answer (required)\n"
            "  -p, --profile NAME      reader profile of every unit (default generic-epc), or a\n"
            "                          path to a .prof file\n"
            "  -u, --units LIST        unit ids, e.g. 1,2,5-8 (default 1)\n"
            "  -t, --tags N            start with N SGTIN-96 tags per unit on antenna 1\n"
            "  -s, --script FILE       run the commands in FILE first (one per line, # comments)\n"
            "  -c, --control PATH      also accept commands on a Unix socket at PATH\n"
            "      --round-ms MS       RF inventory period (default 100)\n"
            "      --seed N            seed of the RF read probabilities (default 1)\n"
            "      --duration S        stop after S seconds\n"
            "  -h, --help              this help\n\n"
            "commands (stdin, --script, --control; each answered with one line ok/error):\n"
            "  tag add UNIT ANTENNA EPC_HEX [RSSI_DBM]   tag del UNIT ANTENNA|* EPC_HEX\n"
            "  tag clear UNIT|*                          tags UNIT\n"
            "  fault UNIT|* none | delay MS | silent [0|1] | exception CODE | corrupt PCT |\n"
            "               malformed short|wrongfc|wrongunit|badtid|garbage|truncated|none |\n"
            "               drop [MS] | readprob PCT | busy MS | freeze 0|1\n"
            "  poke UNIT holding|input|coil ADDR VALUE...   stats   help\n\n"
            "The first line printed is \"listening ENDPOINT units LIST profile NAME\" (with the\n"
            "port chosen). SIGINT or SIGTERM stop it.\n"
            "exit codes: 0 stopped, 1 could not listen, 2 usage error\n");
}

struct unit_list {
    int ids[256];
    int n;
};

/* Parses "1,2,5-8" into a struct unit_list (in the order given). Returns 0 or -EINVAL. */
static int parse_units(const char *s, void *dest)
{
    struct unit_list *ul = dest;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t a, b;
        char *dash = strchr(t, '-');
        if (dash) {
            *dash = '\0';
        }
        if (sk_parse_int64(t, 10, 1, 255, &a) < 0 ||
            sk_parse_int64(dash ? dash + 1 : t, 10, a, 255, &b) < 0) {
            return -EINVAL;
        }
        for (int64_t u = a; u <= b; u++) {
            if (n == (int)(sizeof(ul->ids) / sizeof(ul->ids[0]))) {
                return -EINVAL;
            }
            ul->ids[n++] = (int)u;
        }
    }
    if (n == 0) {
        return -EINVAL;
    }
    ul->n = n;
    return 0;
}

/* A demo population: GTIN 0 0614141 0000U + check (unit U), serials 1..n. */
static void add_demo_tags(struct sk_vreader *v, int unit, int n)
{
    char gtin[16];
    snprintf(gtin, sizeof(gtin), "00614141%03d00", unit % 1000);
    int check = sk_gtin_check_digit(gtin);
    gtin[13] = (char)('0' + (check < 0 ? 0 : check));
    gtin[14] = '\0';
    for (int i = 1; i <= n; i++) {
        uint8_t epc[12];
        if (sk_epc_encode_sgtin96(gtin, 7, (uint64_t)i, 1, epc) == 0) {
            sk_vreader_tag_add(v, unit, 1, epc, sizeof(epc), (int16_t)(-5500 - 100 * (i % 20)));
        }
    }
}

static int run_script(struct sk_vreader *v, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "storekeeper sim reader: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[LINE_MAX_CMD], reply[256];
    int lineno = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#' || *p == '\n') {
            continue;
        }
        if (sk_vreader_command(v, p, reply, sizeof(reply)) < 0) {
            fprintf(stderr, "%s:%d: %s\n", path, lineno, reply);
            bad++;
        }
    }
    fclose(f);
    return bad ? -1 : 0;
}

struct conn {
    int fd;
    char buf[LINE_MAX_CMD];
    size_t n;
    bool skipping; /* inside an over-long line: drop input up to its end */
};

static void reply_line(int out_fd, const char *text)
{
    char line[320];
    int n = snprintf(line, sizeof(line), "%s\n", text);
    if (write(out_fd, line, (size_t)n) < 0) {
        /* the peer went away; its fd is closed when it reads EOF */
    }
}

/* Runs the complete lines in c->buf, answering each to out_fd; an over-long line gets one
 * error answer and is dropped. */
static void run_lines(struct sk_vreader *v, struct conn *c, int out_fd)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->n);
        if (!nl) {
            if (c->n >= sizeof(c->buf) - 1) {
                if (!c->skipping) {
                    reply_line(out_fd, "error: command longer than 511 characters");
                }
                c->skipping = true;
                c->n = 0;
            }
            return;
        }
        *nl = '\0';
        if (!c->skipping) {
            char reply[300];
            sk_vreader_command(v, c->buf, reply, sizeof(reply));
            reply_line(out_fd, reply);
        }
        c->skipping = false;
        size_t used = (size_t)(nl - c->buf) + 1;
        memmove(c->buf, c->buf + used, c->n - used);
        c->n -= used;
    }
}

static int open_control(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int sim_cmd_reader(int argc, char **argv)
{
    const char *listen_url = NULL, *profile_name = "generic-epc", *script = NULL, *control = NULL;
    struct unit_list ul = {.ids = {1}, .n = 1};
    int tags = 0, round_ms = 100;
    uint64_t seed = 1;
    double duration = 0;
    const struct sk_opt table[] = {
            SK_OPT_STRING("listen", 'l', &listen_url),
            SK_OPT_STRING("profile", 'p', &profile_name),
            SK_OPT_CUSTOM("units", 'u', &ul, parse_units,
                          "a list of unit ids 1..255 such as 1,2,5-8"),
            SK_OPT_INT("tags", 't', &tags, 0, 4096),
            SK_OPT_STRING("script", 's', &script),
            SK_OPT_STRING("control", 'c', &control),
            SK_OPT_INT("round-ms", 0, &round_ms, 5, 60000),
            SK_OPT_UINT64("seed", 0, &seed),
            SK_OPT_POSITIVE("duration", 0, &duration, 1e9),
            SK_OPT_TABLE_END,
    };
    const struct sk_args args = {.cmd = "sim reader", .opts = table, .usage = usage};
    int first = sk_args_parse(&args, argc, argv);
    if (first < 0) {
        return sk_args_exit(first);
    }
    const int *units = ul.ids, n_units = ul.n;
    if (!listen_url) {
        return sk_cli_usage_error("sim reader", "where to listen: --listen tcp:127.0.0.1:PORT "
                                                "or --listen rtu:DEVICE");
    }
    char url[SK_URL_MAX + SK_PATH_MAX];
    if (strncmp(listen_url, "rtu:", 4) == 0 && !strchr(listen_url + 4, ':')) {
        snprintf(url, sizeof(url), "%s:115200:8E1", listen_url);
    } else {
        snprintf(url, sizeof(url), "%s", listen_url);
    }
    struct sk_profile *prof = NULL;
    if (sk_profile_load_print("storekeeper sim reader", profile_name, NULL, &prof) < 0) {
        return SK_EXIT_USAGE;
    }
    struct sk_vreader_opts vo = {.listen = url, .round_ms = round_ms, .seed = (uint32_t)seed};
    struct sk_vreader *v = NULL;
    if (sk_vreader_new(&vo, &v) < 0) {
        sk_profile_free(prof);
        return sk_cli_usage_error("sim reader",
                                  "--listen: \"%s\" is not tcp:HOST:PORT or "
                                  "rtu:DEVICE[:BAUD:FRAME]",
                                  listen_url);
    }
    for (int i = 0; i < n_units; i++) {
        sk_vreader_add_unit(v, units[i], prof);
        if (tags) {
            add_demo_tags(v, units[i], tags);
        }
    }
    int rc = SK_EXIT_OK;
    int ctl = -1, sfd = -1;
    if (script && run_script(v, script) < 0) {
        rc = SK_EXIT_USAGE;
        goto out;
    }
    int r = sk_vreader_start(v);
    if (r < 0) {
        fprintf(stderr, "storekeeper sim reader: cannot listen on %s: %s\n", url, sk_strerror(r));
        rc = SK_EXIT_FAILURE;
        goto out;
    }
    if (control && (ctl = open_control(control)) < 0) {
        fprintf(stderr, "storekeeper sim reader: cannot open control socket %s: %s\n", control,
                strerror(errno));
        rc = SK_EXIT_FAILURE;
        goto out;
    }
    sfd = sk_signal_fd(false, SFD_CLOEXEC);
    char shown[SK_URL_MAX + SK_PATH_MAX + 16];
    if (strncmp(url, "tcp:", 4) == 0) {
        const char *colon = strrchr(url, ':');
        snprintf(shown, sizeof(shown), "%.*s:%d", (int)(colon - url), url, sk_vreader_port(v));
    } else {
        snprintf(shown, sizeof(shown), "%s", url);
    }
    printf("listening %s units ", shown);
    for (int i = 0; i < n_units; i++) {
        printf("%s%d", i ? "," : "", units[i]);
    }
    printf(" profile %s\n", prof->id);
    fflush(stdout);

    struct conn in = {.fd = STDIN_FILENO};
    struct conn clients[MAX_CONTROL];
    size_t n_clients = 0;
    bool stdin_open = true;
    int64_t end = duration > 0 ? sk_now_mono_us() + (int64_t)(duration * 1e6) : 0;
    for (;;) {
        struct pollfd pf[3 + MAX_CONTROL];
        size_t np = 0;
        pf[np++] = (struct pollfd){sfd, POLLIN, 0};
        pf[np++] = (struct pollfd){stdin_open ? STDIN_FILENO : -1, POLLIN, 0};
        pf[np++] = (struct pollfd){ctl, POLLIN, 0};
        for (size_t i = 0; i < n_clients; i++) {
            pf[np++] = (struct pollfd){clients[i].fd, POLLIN, 0};
        }
        int timeout = -1;
        if (end) {
            int64_t left = end - sk_now_mono_us();
            if (left <= 0) {
                break;
            }
            timeout = (int)(left / 1000 + 1);
        }
        if (poll(pf, np, timeout) < 0 && errno != EINTR) {
            break;
        }
        if (pf[0].revents) {
            break;
        }
        if (pf[1].revents) {
            ssize_t n = read(STDIN_FILENO, in.buf + in.n, sizeof(in.buf) - 1 - in.n);
            if (n <= 0) {
                stdin_open = false; /* EOF: keep serving; signals or --duration stop us */
            } else {
                in.n += (size_t)n;
                run_lines(v, &in, STDOUT_FILENO);
            }
        }
        if (pf[2].revents & POLLIN) {
            int cfd = accept4(ctl, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0 && n_clients < MAX_CONTROL) {
                clients[n_clients++] = (struct conn){.fd = cfd};
            } else if (cfd >= 0) {
                close(cfd);
            }
        }
        for (size_t k = np; k-- > 3;) {
            if (!pf[k].revents) {
                continue;
            }
            struct conn *cc = &clients[k - 3];
            ssize_t n = read(cc->fd, cc->buf + cc->n, sizeof(cc->buf) - 1 - cc->n);
            if (n > 0) {
                cc->n += (size_t)n;
                run_lines(v, cc, cc->fd);
            } else {
                close(cc->fd);
                clients[k - 3] = clients[--n_clients];
            }
        }
    }
    for (size_t i = 0; i < n_clients; i++) {
        close(clients[i].fd);
    }
out:
    if (ctl >= 0) {
        close(ctl);
        unlink(control);
    }
    if (sfd >= 0) {
        close(sfd);
    }
    sk_vreader_free(v);
    sk_profile_free(prof);
    return rc;
}
