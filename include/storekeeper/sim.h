/* SPDX-License-Identifier: MIT */
/* The simulated store's command (sim/): virtual readers, synthetic cameras, scenarios. */
#ifndef STOREKEEPER_SIM_H
#define STOREKEEPER_SIM_H

#include "storekeeper/args.h"

/* `storekeeper sim ...`; takes the arguments after the command name (argv[0] is "sim"). */
int sk_cmd_sim(int argc, char **argv);

#endif
