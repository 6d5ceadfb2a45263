#!/bin/sh
# SPDX-License-Identifier: MIT
# The accuracy benchmark: builds, runs every scenario of examples/scenarios (and its hard/
# folder, reported by class) through the
# simulated store (real time, several at once) and the core's throughput benchmark (fusion +
# ledger, crowded store), and writes both to docs/accuracy.md.
#   scripts/accuracy.sh [--runs N]      (N runs of every scenario, summed; default 1)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --test
exec /usr/bin/python3 tests/sim/bench_accuracy.py "$@"
