/* SPDX-License-Identifier: MIT */
/* `storekeeper version`: this build and the libraries it was built against. */
#include <getopt.h>
#include <openssl/opensslv.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "sk_build_info.h"
#include "storekeeper/cli.h"

int sk_cmd_version(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: storekeeper version [--json]\n\n"
                   "Prints the version of this build and of the libraries it uses.\n"
                   "exit codes: 0 ok, 2 usage error\n");
            return SK_EXIT_OK;
        } else {
            return sk_cli_usage_error("version", "unknown option %s", argv[i]);
        }
    }
    const char *git = SK_GIT_DESCRIBE;
    if (json) {
        printf("{\"version\":\"%s\",\"git\":\"%s\",\"libconfig\":\"%d.%d.%d\","
               "\"openssl\":\"%s\"}\n",
               SK_VERSION, git, LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION,
               OPENSSL_VERSION_TEXT);
    } else {
        printf("storekeeper %s%s%s%s\n", SK_VERSION, git[0] ? " (" : "", git, git[0] ? ")" : "");
        printf("  libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
               LIBCONFIG_VER_REVISION);
        printf("  %s\n", OPENSSL_VERSION_TEXT);
    }
    return SK_EXIT_OK;
}
