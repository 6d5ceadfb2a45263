/* SPDX-License-Identifier: MIT */
/* Internal to sim/: the subcommands `storekeeper sim` dispatches to. */
#ifndef SK_SIM_INTERNAL_H
#define SK_SIM_INTERNAL_H

/* `storekeeper sim reader ...`; argv[0] is "reader". */
int sim_cmd_reader(int argc, char **argv);

#endif
