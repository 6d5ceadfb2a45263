/* SPDX-License-Identifier: MIT */
/* Secret files the store file points at: the broker credentials file and its permissions. */
#include "storekeeper/credentials.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "storekeeper/error.h"

#define CRED_FILE_MAX 4096

void sk_credentials_wipe(struct sk_credentials *c)
{
    if (c) {
        explicit_bzero(c, sizeof(*c));
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

int sk_secret_file_ok(
        const char *path, const struct stat *st, const char *holds, char *err, size_t err_size)
{
    if (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) {
        snprintf(err, err_size,
                 "%s: holds %s but others may access it%s (mode %04o); chmod 0640 it with group "
                 "storekeeper and owner root, or 0600",
                 path, holds, st->st_mode & S_IWGRP ? " or its group may change it" : "",
                 (unsigned)(st->st_mode & 07777));
        return SK_ECONFIG;
    }
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me) {
        snprintf(err, err_size,
                 "%s: holds %s but belongs to uid %u, neither root nor the user storekeeper runs "
                 "as (uid %u), who could replace it; chown it",
                 path, holds, (unsigned)st->st_uid, (unsigned)me);
        return SK_ECONFIG;
    }
    return 0;
}

int sk_credentials_load(const char *path, struct sk_credentials *ret, char *err, size_t err_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s: not a regular file", path);
        close(fd);
        return SK_ECONFIG;
    }
    if (sk_secret_file_ok(path, &st, "a password", err, err_size) < 0) {
        close(fd);
        return SK_ECONFIG;
    }
    if (st.st_size > CRED_FILE_MAX) {
        snprintf(err, err_size, "%s: %lld bytes; a credentials file has at most %d", path,
                 (long long)st.st_size, CRED_FILE_MAX);
        close(fd);
        return SK_ECONFIG;
    }
    char buf[CRED_FILE_MAX + 1];
    ssize_t n = read(fd, buf, CRED_FILE_MAX);
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, err_size, "%s: cannot read: %s", path, strerror(e));
        return -e;
    }
    int r = sk_credentials_parse(path, buf, (size_t)n, ret, err, err_size);
    explicit_bzero(buf, sizeof(buf));
    return r;
}

int sk_credentials_parse(const char *path,
                         const char *text,
                         size_t len,
                         struct sk_credentials *ret,
                         char *err,
                         size_t err_size)
{
    if (len > CRED_FILE_MAX) {
        snprintf(err, err_size, "%s: %zu bytes; a credentials file has at most %d", path, len,
                 CRED_FILE_MAX);
        return SK_ECONFIG;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, err_size, "%s: contains a NUL byte (not a text file)", path);
        return SK_ECONFIG;
    }
    char buf[CRED_FILE_MAX + 1];
    memcpy(buf, text, len);
    buf[len] = '\0';

    struct sk_credentials c;
    memset(&c, 0, sizeof(c));
    bool have_user = false, have_pass = false;
    int line_no = 0;
    int r = 0;
    /* strtok_r would merge empty lines and lose the numbering: split by hand. */
    char *line = buf;
    while (line && r == 0) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        line_no++;
        char *t = trim(line);
        if (t[0] && t[0] != '#') {
            char *eq = strchr(t, '=');
            if (!eq) {
                snprintf(err, err_size, "%s:%d: expected `username = NAME` or `password = SECRET`",
                         path, line_no);
                r = SK_ECONFIG;
                break;
            }
            *eq = '\0';
            char *key = trim(t);
            char *val = trim(eq + 1);
            char *field;
            size_t size;
            bool *seen;
            if (strcmp(key, "username") == 0) {
                field = c.username;
                size = sizeof(c.username);
                seen = &have_user;
            } else if (strcmp(key, "password") == 0) {
                field = c.password;
                size = sizeof(c.password);
                seen = &have_pass;
            } else {
                snprintf(err, err_size, "%s:%d: unknown key \"%.32s\" (username, password)", path,
                         line_no, key);
                r = SK_ECONFIG;
                break;
            }
            if (*seen) {
                snprintf(err, err_size, "%s:%d: %s is given twice", path, line_no, key);
                r = SK_ECONFIG;
            } else if (!val[0]) {
                snprintf(err, err_size, "%s:%d: %s is empty", path, line_no, key);
                r = SK_ECONFIG;
            } else if (strlen(val) >= size) {
                snprintf(err, err_size, "%s:%d: %s is longer than %zu bytes", path, line_no, key,
                         size - 1);
                r = SK_ECONFIG;
            } else {
                memcpy(field, val, strlen(val) + 1);
                *seen = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (r == 0 && !have_user) {
        snprintf(err, err_size, "%s: no `username = NAME` line", path);
        r = SK_ECONFIG;
    }
    explicit_bzero(buf, sizeof(buf));
    if (r < 0) {
        sk_credentials_wipe(&c);
        return r;
    }
    *ret = c;
    sk_credentials_wipe(&c);
    return 0;
}
