#!/bin/sh
# SPDX-License-Identifier: MIT
# The bridge test's long form (docs/operator.md, "Bridge the store broker to the cloud"): the
# cloud broker down for a full minute while events are committed at 100 a second (6,400 events),
# instead of the suite's 4 s. About 75 seconds.
#   scripts/bridge-long.sh              SK_BRIDGE_OUTAGE_S and SK_BRIDGE_RATE override
set -eu
cd "$(dirname "$0")/.."
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)" >/dev/null
SK_BIN=$PWD/build/storekeeper SK_SOURCE_DIR=$PWD SK_BUILD_DIR=$PWD/build \
    SK_BRIDGE_OUTAGE_S=${SK_BRIDGE_OUTAGE_S:-60} SK_BRIDGE_RATE=${SK_BRIDGE_RATE:-100} \
    exec /usr/bin/python3 tests/mqtt/test_bridge.py "$@"
