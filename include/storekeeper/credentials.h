/* SPDX-License-Identifier: MIT */
/* Secret files the store file points at: the broker credentials file (username and password)
 * and the permission rule every secret file must meet. Used by the config check and the MQTT
 * link; no I/O but reading the named file. */
#ifndef STOREKEEPER_CREDENTIALS_H
#define STOREKEEPER_CREDENTIALS_H

#include <stddef.h>

struct sk_credentials {
    char username[128];
    char password[256];
};

/*
 * A file holding a secret (the credentials file, the TLS client key) may be read by its owner
 * and its group only, written by its owner only, and must belong to root or to the user the
 * process runs as: 0640 root:storekeeper (what the package does) or 0600. holds names the
 * secret in the message ("a password"). Returns 0, or SK_ECONFIG with the reason in err.
 */
struct stat;
int sk_secret_file_ok(
        const char *path, const struct stat *st, const char *holds, char *err, size_t err_size);

/*
 * Reads a credentials file: lines `username = NAME` and `password = SECRET`, `#` comments and
 * blank lines; both keys once. The file must pass sk_secret_file_ok (it holds a secret). On
 * failure returns -errno or SK_ECONFIG with a message naming the file and line in err (never the
 * secret), and leaves *ret untouched.
 */
int sk_credentials_load(const char *path, struct sk_credentials *ret, char *err, size_t err_size);
/* The same from the file's text in memory (len bytes, borrowed; path names it in messages).
 * No permission check: that is the file's. */
int sk_credentials_parse(const char *path,
                         const char *text,
                         size_t len,
                         struct sk_credentials *ret,
                         char *err,
                         size_t err_size);
/* Overwrites the secret in memory. */
void sk_credentials_wipe(struct sk_credentials *c);

#endif
