/* SPDX-License-Identifier: MIT */
/* `storekeeper sim`: the simulated store. Virtual readers are here; scenarios arrive later. */
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"
#include "storekeeper/cli.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: storekeeper sim reader --listen ENDPOINT [OPTIONS]\n"
                 "       storekeeper sim SCENARIO           (not available yet)\n\n"
                 "The simulated store.\n\n"
                 "  reader     virtual RFID readers on a Modbus TCP port or RTU pty, with a tag\n"
                 "             population and faults that change while they run\n"
                 "             (`storekeeper sim reader --help`)\n"
                 "  SCENARIO   scripted shoppers, synthetic cameras and readers: arrives with the\n"
                 "             fusion issue\n\n"
                 "exit codes: 0 ok, 1 failure at run time, 2 usage error or not available\n");
}

int sk_cmd_sim(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return SK_EXIT_OK;
    }
    if (strcmp(argv[1], "reader") == 0) {
        return sk_cmd_sim_reader(argc - 1, argv + 1);
    }
    return sk_cli_not_built("sim", "scenarios (storekeeper sim SCENARIO) arrive with the fusion "
                                   "issue; `storekeeper sim reader` runs virtual readers");
}
