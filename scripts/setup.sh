#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, configures and builds: build/storekeeper.
#   scripts/setup.sh [--test]   (--test also installs the test tools and builds the tests;
#                                without it only the storekeeper program is built)
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh "$@"
cmake --preset dev >/dev/null
target="--target storekeeper"
case " $* " in *" --test "*) target="" ;; esac
# shellcheck disable=SC2086
cmake --build --preset dev -j "$(nproc)" $target
echo "setup: built build/storekeeper"
