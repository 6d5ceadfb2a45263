/* SPDX-License-Identifier: MIT */
/* Commands whose features later issues deliver: they say so and exit 2, never fake output. */
#include <stdio.h>
#include <string.h>

#include "storekeeper/cli.h"

static int pending(int argc, char **argv, const char *cmd, const char *about, const char *issue)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: storekeeper %s ...\n\n%s\n\nNot available in this version (%s).\n"
               "exit codes: 2 (not available)\n",
               cmd, about, issue);
        return SK_EXIT_OK;
    }
    return sk_cli_not_built(cmd, issue);
}

int sk_cmd_replay(int argc, char **argv)
{
    return pending(argc, argv, "replay",
                   "Feeds an observation log written by `run --record` through the core and\n"
                   "prints the events it would send.",
                   "record and replay arrive with the fusion issue");
}
