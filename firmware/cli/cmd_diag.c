/* SPDX-License-Identifier: MIT */
/* `storekeeper diag`: technician diagnostics, dispatched to one function per subsystem. */
#include "cmd_diag.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storekeeper/cli.h"

/* One row per subcommand; each issue that adds a diagnostic adds its row here. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} subcommands[] = {
        {"status", cli_diag_status,
         "uptime, config hash, queues, outbox, broker, every reader and camera"},
        {"all", cli_diag_all, "every check, PASS/WARN/FAIL with one line of advice each"},
        {"reader", cli_diag_reader, "a reader's health and live tags per antenna (--watch)"},
        {"camera", cli_diag_camera,
         "capture frames, report fps and processing time, write a snapshot with detections"},
        {"modbus", cli_diag_modbus, "scan a Modbus bus: which unit ids answer"},
        {"mqtt", cli_diag_mqtt,
         "reach the broker as the store does: DNS, TCP, TLS, MQTT, round trip"},
        {"ledger", cli_diag_ledger, "ledger integrity, hash chain, outbox, stock summary"},
        {"bundle", cli_diag_bundle, "support bundle: redacted config, logs, counters, state"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: storekeeper diag SUBCOMMAND [OPTIONS]\n\n"
                 "Technician diagnostics: each prints a report and ends with PASS or FAIL.\n\n"
                 "subcommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    }
    fprintf(out, "\n`storekeeper diag SUBCOMMAND --help` describes each.\n"
                 "exit codes: 0 PASS, 1 FAIL, 2 usage or configuration error\n");
}

/* True when the arguments name a store file (-c F, -cF, --config F, --config=F). */
static bool names_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (strncmp(argv[i], "-c", 2) == 0 || strcmp(argv[i], "--config") == 0 ||
            strncmp(argv[i], "--config=", 9) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Every diag command takes the store file from -c, else $STOREKEEPER_CONFIG, else
 * /etc/storekeeper/store.cfg (docs/technician.md): given here once for all of them, as the
 * -c the subcommand would have been given, so no subcommand can forget the default.
 */
static int with_default_config(int (*fn)(int, char **), int argc, char **argv)
{
    if (names_config(argc, argv)) {
        return fn(argc, argv);
    }
    char **av = calloc((size_t)argc + 3, sizeof(*av));
    if (!av) {
        return SK_EXIT_FAILURE;
    }
    static char opt_c[] = "-c";
    char path[4096];
    snprintf(path, sizeof(path), "%s", cli_diag_default_config());
    /* Appended: subcommands read their own words (modbus scan BUS) from the front. */
    for (int i = 0; i < argc; i++) {
        av[i] = argv[i];
    }
    av[argc] = opt_c;
    av[argc + 1] = path;
    int r = fn(argc + 2, av);
    free(av);
    return r;
}

const char *cli_diag_default_config(void)
{
    const char *env = getenv("STOREKEEPER_CONFIG");
    return env && env[0] ? env : SK_DIAG_DEFAULT_CONFIG;
}

int sk_cmd_diag(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return SK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            /* status, all, reader, ledger and bundle apply the default themselves (and
             * say when it is the default that does not load). */
            bool own = strcmp(argv[1], "camera") != 0 && strcmp(argv[1], "modbus") != 0 &&
                       strcmp(argv[1], "mqtt") != 0;
            /* A Modbus endpoint given as such (tcp:..., rtu:...) needs no store file, and
             * a scan on a machine without one says what BUS may be. */
            for (int a = 2; !strcmp(argv[1], "modbus") && a < argc; a++) {
                own = own || !strncmp(argv[a], "tcp:", 4) || !strncmp(argv[a], "rtu:", 4);
            }
            if (!strcmp(argv[1], "modbus") && !getenv("STOREKEEPER_CONFIG") &&
                access(SK_DIAG_DEFAULT_CONFIG, F_OK) < 0) {
                own = true;
            }
            return own ? subcommands[i].fn(argc - 1, argv + 1)
                       : with_default_config(subcommands[i].fn, argc - 1, argv + 1);
        }
    }
    return sk_cli_usage_error("diag", "unknown subcommand \"%s\"", argv[1]);
}
