#!/bin/sh
# SPDX-License-Identifier: MIT
# The crash loop, long form (docs/reliability.md): a five-minute busy store
# (tests/reliability/busy-store.scn, thirty shoppers) with `storekeeper run` SIGKILLed 50 times
# at random moments and restarted each time, then the checks of `storekeeper sim --crash`.
# The suite runs the short form (tests/reliability/test_crash_loop.py: 10 kills, rush hour).
#   scripts/crash-loop.sh [KILLS [SEED [SCENARIO]]]      defaults: 50, from the clock, busy store
# The store's files (ledger, events received, truth, the runtime's log) stay in
# build/crash-loop/ for a look afterwards. About six minutes.
set -eu
cd "$(dirname "$0")/.."
kills=${1:-50}
seed=${2:-$(date +%s)}
scenario=${3:-tests/reliability/busy-store.scn}
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)" >/dev/null
# A copy of the binary: a rebuild during the run must not change the runtime under test.
mkdir -p build/crash-loop/bin/share
cp build/storekeeper build/crash-loop/bin/storekeeper
ln -sfn "$PWD/build/share/storekeeper" build/crash-loop/bin/share/storekeeper
exec build/crash-loop/bin/storekeeper sim "$scenario" --crash "$kills" --crash-seed "$seed" \
    --keep build/crash-loop/store
