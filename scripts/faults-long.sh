#!/bin/sh
# SPDX-License-Identifier: MIT
# The fault matrix's long forms (docs/reliability.md): the broker down for 60 s instead of the
# suite's seven failed attempts (about 7 s), then every fault test once more. About four minutes.
#   scripts/faults-long.sh [TEST...]     e.g. Faults.test_broker_down
set -eu
cd "$(dirname "$0")/.."
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)" >/dev/null
SK_BIN=$PWD/build/storekeeper SK_SOURCE_DIR=$PWD SK_BUILD_DIR=$PWD/build \
    SK_FAULT_BROKER_DOWN_S=${SK_FAULT_BROKER_DOWN_S:-60} \
    exec /usr/bin/python3 tests/reliability/test_faults.py "$@"
