#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, configures and builds: build/storekeeper.
#   scripts/setup.sh [--test]   (--test also installs the test tools)
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh "$@"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)"
echo "setup: built build/storekeeper"
