/* SPDX-License-Identifier: MIT */
/* Fuzz target: the MQTT credentials file parser (username and password lines). */
#include <string.h>

#include "fuzz.h"
#include "storekeeper/mqtt.h"

/*
 * The input is a credentials file (the daemon refuses one others may read before parsing it;
 * this is the parser behind that check). A refusal must come with a message; an accepted
 * file must give a user name.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_credentials c;
    memset(&c, 0, sizeof(c));
    char err[512] = "";
    if (sk_credentials_parse("fuzz.cred", (const char *)data, size, &c, err, sizeof(err)) == 0) {
        if (!c.username[0] || !memchr(c.password, '\0', sizeof(c.password))) {
            abort();
        }
        sk_credentials_wipe(&c);
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
