#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages storekeeper needs, only those missing.
#   scripts/install-deps.sh          build and run
#   scripts/install-deps.sh --test   also everything the test suite uses
# Runs apt-get update at most once; as root directly, otherwise through sudo.
set -eu

BUILD_PKGS="cmake make pkg-config gcc g++ git libmodbus-dev libmosquitto-dev libsqlite3-dev
libconfig-dev libcjson-dev libssl-dev libopencv-core-dev libopencv-imgproc-dev
libopencv-video-dev libcamera-dev libpng-dev"
RUN_PKGS="mosquitto"
TEST_PKGS="libcmocka-dev mosquitto-clients sqlite3 socat mbpoll python3 python3-jsonschema
openssl clang clang-format libopencv-videoio-dev python3-opencv"

pkgs="$BUILD_PKGS $RUN_PKGS"
if [ "${1:-}" = "--test" ]; then
    pkgs="$pkgs $TEST_PKGS"
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-deps: every package is installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root or install sudo" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $missing
