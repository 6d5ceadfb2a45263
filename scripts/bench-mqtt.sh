#!/bin/sh
# SPDX-License-Identifier: MIT
# The MQTT link benchmark, full form: outbox drain rate at QoS 1 next to mosquitto_pub -l with
# the same payloads to the same broker (ratio), and commit-to-receipt latency (p50, p99).
#   scripts/bench-mqtt.sh [--events N] [--latency-events M] [--rate R]
# Needs a dev build (scripts/setup.sh). The ctest label `bench` runs a short form.
set -eu
cd "$(dirname "$0")/.."
build=${SK_BUILD_DIR:-$PWD/build}
[ -x "$build/storekeeper" ] || { echo "bench-mqtt: build first (scripts/setup.sh)" >&2; exit 1; }
cmake --build "$build" --target bench_latency outbox_tool >/dev/null
SK_BIN="$build/storekeeper" SK_SOURCE_DIR="$PWD" SK_BUILD_DIR="$build" PYTHONDONTWRITEBYTECODE=1 \
    exec /usr/bin/python3 tests/mqtt/bench_mqtt.py --events 20000 --latency-events 2000 "$@"
