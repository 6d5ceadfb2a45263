/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the unit tests: temporary files and directories. */
#ifndef SK_TEST_HELPERS_H
#define SK_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); path must hold 64 bytes. */
static inline void sk_test_tmpdir(char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/sk-test-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
}

/* Writes text to dir/name and puts the full path in out. */
static inline void
sk_test_write(const char *dir, const char *name, const char *text, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

/* Removes dir and what the tests put in it (flat). */
static inline void sk_test_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

#endif
