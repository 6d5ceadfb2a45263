#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite: installs what is missing, builds with warnings as errors, runs every
# test, runs them again under AddressSanitizer + UndefinedBehaviorSanitizer, runs the threaded
# tests under ThreadSanitizer, runs clang-tidy and cppcheck (scripts/analyze.sh), fuzzes every parser for a short fixed time with libFuzzer
# (scripts/fuzz.sh --ci), checks formatting, builds and checks the amd64 Debian package
# (scripts/package.sh: release build, lintian, systemd-analyze verify) and cross-builds for
# arm64 with the unit tests under qemu-user (scripts/cross-test.sh).   scripts/test.sh
# SK_TEST_PACKAGE=0 or SK_TEST_CROSS=0 skip the last two (e.g. on a machine without apt);
# SK_FUZZ_SECONDS sets the fuzzing time per target (10).
# As root with Debian's archive reachable, the clean machine: the README's demo in a fresh
# Debian 12 root (scripts/clean-root-demo.sh --short) and the package installed there by
# docs/operator.md (scripts/chroot-install-test.sh); SK_TEST_CLEAN=0 skips them.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Every tool is installed below: a test that would skip itself fails instead
# (docs/development.md, "How a test waits, and how it says it was skipped").
export SK_TEST_NO_SKIP=1

t_start=$(date +%s)
scripts/install-deps.sh --test --package --chroot

# Each step says when it began (minutes:seconds since the start): the suite's budget is 25
# minutes.
elapsed() { t=$(($(date +%s) - t_start)); printf '%d:%02d' $((t / 60)) $((t % 60)); }
step() { printf '\n=== [%s] %s\n' "$(elapsed)" "$*"; }

step "format (clang-format --dry-run)"
files=$(git ls-files '*.c' '*.h' '*.cpp' 2>/dev/null || find firmware drivers vision sim tests include -name '*.[ch]' -o -name '*.cpp')
# shellcheck disable=SC2086
clang-format --dry-run -Werror $files

step "build (dev preset, -Werror)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"

step "tests"
ctest --preset dev -j "$jobs"

step "static analysis (clang-tidy, cppcheck: scripts/analyze.sh)"
scripts/analyze.sh

step "build (asan preset: AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"

step "tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -j "$jobs"

step "build (tsan preset)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"

step "threaded tests under ThreadSanitizer"
TSAN_OPTIONS=halt_on_error=1 ctest --preset tsan -j "$jobs" -L threads

step "fuzz (clang libFuzzer + ASan/UBSan: corpus replay, ${SK_FUZZ_SECONDS:-10} s per target; scripts/fuzz.sh)"
scripts/fuzz.sh --ci

if [ "${SK_TEST_PACKAGE:-1}" != 0 ]; then
    step "Debian package (scripts/package.sh)"
    scripts/package.sh
fi

if [ "${SK_TEST_CLEAN:-1}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
    step "clean machine: README demo in a fresh Debian 12 root (scripts/clean-root-demo.sh --short)"
    scripts/clean-root-demo.sh --short
    if [ "${SK_TEST_PACKAGE:-1}" != 0 ]; then
        step "clean machine: the package by docs/operator.md (scripts/chroot-install-test.sh)"
        scripts/chroot-install-test.sh --deb "$(ls build-release/storekeeper_*_amd64.deb)"
        step "clean machine: the unit under a real systemd in a qemu VM (scripts/systemd-vm-test.sh)"
        SK_VM_TIMEOUT=${SK_VM_TIMEOUT:-900} scripts/systemd-vm-test.sh --deb "$(ls build-release/storekeeper_*_amd64.deb)"
    fi
fi

if [ "${SK_TEST_CROSS:-1}" != 0 ]; then
    step "arm64 cross build, unit tests under qemu-user (scripts/cross-test.sh)"
    scripts/cross-test.sh
fi

step "all tests passed"
