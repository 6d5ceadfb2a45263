/* SPDX-License-Identifier: MIT */
/* storekeeper's entry point: picks the subcommand and hands over; nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "storekeeper/cli.h"
#include "storekeeper/runtime.h"
#include "storekeeper/sim.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
        {"run", sk_cmd_run, "run the store runtime (the daemon)"},
        {"diag", sk_cmd_diag, "technician diagnostics: buses, readers, cameras, broker, ledger"},
        {"ledger", sk_cmd_ledger, "inventory ledger: import catalog, stock, movements, verify"},
        {"sim", sk_cmd_sim, "simulated store: virtual readers, synthetic cameras, scenarios"},
        {"replay", sk_cmd_replay, "feed a recorded observation log through the core"},
        {"version", sk_cmd_version, "print version and library versions"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: storekeeper COMMAND [OPTIONS]\n\n"
                 "The edge runtime of an unmanned store.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n`storekeeper COMMAND --help` describes each command.\n"
                 "exit codes: 0 ok, 1 failure at run time or a diagnostic FAIL, "
                 "2 usage or configuration error\n");
}

int main(int argc, char **argv)
{
    /* Before any thread exists: the core receives these through its signalfd. */
    sk_block_signals();
    if (argc < 2) {
        usage(stderr);
        return SK_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return SK_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        return sk_cmd_version(1, argv + 1);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "storekeeper: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return SK_EXIT_USAGE;
}
