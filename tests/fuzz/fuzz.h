/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: the libFuzzer entry points and where the project's data lives. */
#ifndef SK_FUZZ_H
#define SK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Every target defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). Built with
 * clang and SK_FUZZ=ON they link libFuzzer (-fsanitize=fuzzer); in every other build they link
 * replay.c, which runs the committed corpus through the same function, so the dev, ASan and
 * cross builds replay it too (ctest -L fuzz).
 *
 * Targets must be deterministic, must not leak between inputs, and must not touch files
 * outside a scratch directory of their own: libFuzzer runs millions of inputs in one process.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The source tree (boards, profiles, examples): $SK_SOURCE_DIR, else the one built from. */
static inline const char *fuzz_source_dir(void)
{
    const char *env = getenv("SK_SOURCE_DIR");
    return env && env[0] ? env : SK_SOURCE_DIR;
}

#endif
