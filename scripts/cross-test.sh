#!/bin/sh
# SPDX-License-Identifier: MIT
# The arm64 (Raspberry Pi OS 64-bit) build on this amd64 machine: Debian multiarch libraries,
# gcc-aarch64-linux-gnu and cmake/toolchain-aarch64-linux-gnu.cmake; the unit tests run under
# qemu-aarch64 (qemu-user), then the arm64 .deb is built and checked (scripts/package.sh).
#   scripts/cross-test.sh                  unit tests under qemu + the arm64 package
#   scripts/cross-test.sh --integration    also the integration tests (the real binary under
#                                          qemu against real peers on loopback; slower)
# Installs what is missing first: scripts/install-deps.sh --cross adds the arm64
# architecture and the :arm64 variant of every -dev package of its build and test lists.
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
integration=""
case "${1:-}" in
"") ;;
--integration) integration=1 ;;
-h | --help) script_help ;;
*) unknown_option cross-test "$1" ;;
esac

step() { printf '\n=== cross-test: %s\n' "$*"; }
now() { date +%s; }
t0=$(now)

step "dependencies (arm64 multiarch)"
scripts/install-deps.sh --test --package --cross
t1=$(now)

step "configure and build (arm64 preset)"
cmake --preset arm64 >/dev/null
nice -n 10 cmake --build --preset arm64 -j "$(nproc)"
file build-arm64/storekeeper | grep -q 'ARM aarch64' ||
    { echo "cross-test: build-arm64/storekeeper is not an arm64 program" >&2; exit 1; }
t2=$(now)

step "unit tests under $(qemu-aarch64 --version | head -1)"
ctest --preset arm64 -j "$(nproc)"
t3=$(now)

if [ -n "$integration" ]; then
    step "integration tests under qemu-user"
    ctest --test-dir build-arm64 -j "$(nproc)" -L integration --output-on-failure
fi
t4=$(now)

step "arm64 package"
scripts/package.sh --arch arm64
t5=$(now)

step "times"
echo "dependencies $((t1 - t0)) s, build $((t2 - t1)) s, unit tests $((t3 - t2)) s," \
    "integration tests $((t4 - t3)) s, package $((t5 - t4)) s, total $((t5 - t0)) s"
