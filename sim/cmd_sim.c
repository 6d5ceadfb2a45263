/* SPDX-License-Identifier: MIT */
/* `storekeeper sim`: the simulated store. Its parts arrive with the RFID and fusion issues. */
#include <stdio.h>
#include <string.h>

#include "storekeeper/cli.h"

int sk_cmd_sim(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: storekeeper sim ...\n\n"
               "The simulated store: virtual Modbus readers, synthetic cameras and scripted\n"
               "shoppers.\n\nNot available in this version (virtual readers arrive with the "
               "RFID issue, scenarios with the fusion issue).\nexit codes: 2 (not available)\n");
        return SK_EXIT_OK;
    }
    return sk_cli_not_built("sim", "virtual readers arrive with the RFID issue, scenarios with "
                                   "the fusion issue");
}
