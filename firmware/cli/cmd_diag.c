/* SPDX-License-Identifier: MIT */
/* `storekeeper diag`: technician diagnostics, dispatched to one function per subsystem. */
#include "cmd_diag.h"

#include <stdio.h>
#include <string.h>

#include "storekeeper/cli.h"

/* One row per subcommand; each issue that adds a diagnostic adds its row here. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} subcommands[] = {
        {"status", sk_cmd_diag_status,
         "uptime, config hash, queues, outbox, broker, every reader and camera"},
        {"all", sk_cmd_diag_all, "every check, PASS/WARN/FAIL with one line of advice each"},
        {"reader", sk_cmd_diag_reader, "a reader's health and live tags per antenna (--watch)"},
        {"camera", sk_cmd_diag_camera,
         "capture frames, report fps and processing time, write a snapshot with detections"},
        {"modbus", sk_cmd_diag_modbus, "scan a Modbus bus: which unit ids answer"},
        {"mqtt", sk_cmd_diag_mqtt,
         "reach the broker as the store does: DNS, TCP, TLS, MQTT, round trip"},
        {"ledger", sk_cmd_diag_ledger, "ledger integrity, hash chain, outbox, stock summary"},
        {"bundle", sk_cmd_diag_bundle, "support bundle: redacted config, logs, counters, state"},
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
            return subcommands[i].fn(argc - 1, argv + 1);
        }
    }
    return sk_cli_usage_error("diag", "unknown subcommand \"%s\"", argv[1]);
}
