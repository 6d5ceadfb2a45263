/* SPDX-License-Identifier: MIT */
/* Entry points of the storekeeper subcommands (firmware/cli/; `sim` is in sim.h). */
#ifndef STOREKEEPER_CLI_H
#define STOREKEEPER_CLI_H

#include "storekeeper/args.h"

/* Each takes the arguments after the command name (argv[0] is the command). */
int sk_cmd_run(int argc, char **argv);
int sk_cmd_version(int argc, char **argv);
int sk_cmd_diag(int argc, char **argv);
int sk_cmd_ledger(int argc, char **argv);
int sk_cmd_replay(int argc, char **argv);

#endif
