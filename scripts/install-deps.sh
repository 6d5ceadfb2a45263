#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages storekeeper needs, only those missing.
#   scripts/install-deps.sh           build and run
#   scripts/install-deps.sh --test    also everything the test suite uses
#   ... --package                     also what scripts/package.sh uses (CPack, lintian)
#   ... --cross                       also the arm64 cross build (scripts/cross-test.sh): the
#                                     cross compilers, qemu-user, and the :arm64 variant of
#                                     every -dev package of the build list (and cmocka)
#   ... --chroot                      also debootstrap (scripts/chroot-install-test.sh)
#   scripts/install-deps.sh --list build|run|test|package|cross|chroot   print a list
# Options combine. Runs apt-get update at most once; as root directly, otherwise via sudo.
set -eu

# The build list is what `cmake --preset dev` needs: the dev preset configures the tests too,
# which need cmocka's headers and python3 (scripts/demo.sh on a fresh machine runs it).
BUILD_PKGS="cmake make pkg-config gcc g++ git libmodbus-dev libmosquitto-dev libsqlite3-dev
libconfig-dev libcjson-dev libssl-dev libopencv-core-dev libopencv-imgproc-dev
libopencv-video-dev libcamera-dev libpng-dev libmicrohttpd-dev libcmocka-dev python3"
RUN_PKGS="mosquitto socat"   # mosquitto: the simulator's broker (demo); socat: RTU pty pairs
TEST_PKGS="mosquitto-clients sqlite3 socat mbpoll python3 python3-jsonschema python3-paho-mqtt
openssl clang clang-format clang-tidy cppcheck valgrind strace libfaketime libopencv-videoio-dev
python3-opencv qemu-system-x86 chromium time"

PACKAGE_PKGS="dpkg-dev lintian systemd"
CROSS_ARCH=arm64
CROSS_PKGS="gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user"
CHROOT_PKGS="debootstrap"

# The cross build needs the target's variant of every library (-dev) of the build list, and
# cmocka for the unit tests; tools (cmake, pkg-config, ...) stay native. Not the test list's
# other -dev packages: libopencv-videoio-dev drags in GDAL, whose packages cannot be
# installed for two architectures at once (apt would remove the native ones). Optional
# features found only natively are simply not built for arm64.
CROSS_TEST_LIBS="libcmocka-dev"
cross_libs() {
    for p in $BUILD_PKGS $CROSS_TEST_LIBS; do
        case "$p" in
        *-dev) echo "$p:$CROSS_ARCH" ;;
        esac
    done
}

pkgs="$BUILD_PKGS $RUN_PKGS"
cross=""
while [ $# -gt 0 ]; do
    case "$1" in
    --test) pkgs="$pkgs $TEST_PKGS" ;;
    --package) pkgs="$pkgs $PACKAGE_PKGS" ;;
    --chroot) pkgs="$pkgs $CHROOT_PKGS" ;;
    --cross)
        cross=1
        pkgs="$pkgs $CROSS_PKGS $(cross_libs | tr '\n' ' ')"
        ;;
    --list)
        case "${2:-}" in
        build) echo $BUILD_PKGS ;;
        run) echo $RUN_PKGS ;;
        test) echo $TEST_PKGS ;;
        package) echo $PACKAGE_PKGS ;;
        cross) echo $CROSS_PKGS $(cross_libs) ;;
        chroot) echo $CHROOT_PKGS ;;
        *) echo "install-deps: --list build|run|test|package|cross|chroot" >&2; exit 2 ;;
        esac
        exit 0
        ;;
    *) echo "install-deps: unknown option $1 (see the head of this script)" >&2; exit 2 ;;
    esac
    shift
done

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
if [ -n "$cross" ] && ! dpkg --print-foreign-architectures | grep -qx "$CROSS_ARCH"; then
    $SUDO dpkg --add-architecture "$CROSS_ARCH"
fi
$SUDO apt-get update -q
# --no-remove: an install that would remove a package (two architectures that cannot be
# installed together) fails here, instead of quietly breaking what else this machine builds.
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends --no-remove $missing
