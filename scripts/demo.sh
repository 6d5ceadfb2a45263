#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: builds storekeeper and runs it on the simulated store (examples/demo-store.cfg,
# board `sim`) for a minute, or until Ctrl-C.  scripts/demo.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
duration=${1:-60}
mkdir -p /tmp/storekeeper-demo
echo "demo: checking the store configuration"
build/storekeeper run -c examples/demo-store.cfg --check-config
echo "demo: running storekeeper for ${duration} s (Ctrl-C stops it cleanly)"
exec build/storekeeper run -c examples/demo-store.cfg --duration "$duration"
