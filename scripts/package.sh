#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the Debian packages and checks them: a release build installed to /usr, CPack's .debs
# (storekeeper; storekeeper-camera, the OpenCV vision module; storekeeper-libcamera), their
# file lists, lintian (no errors allowed; every warning is printed), and `systemd-analyze
# verify` of the unit it ships.
#   scripts/package.sh                 amd64 (this machine), in build-release/
#   scripts/package.sh --arch arm64    cross build in build-arm64/ (scripts/cross-test.sh)
# Prints the package's path, size and dependencies. docs/operator.md#building-the-package.
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
arch=native
while [ $# -gt 0 ]; do
    case "$1" in
    --arch)
        arch=${2:?--arch needs amd64 or arm64}
        shift
        ;;
    -h | --help) script_help ;;
    *) unknown_option package "$1" ;;
    esac
    shift
done
[ "$arch" = "$(dpkg --print-architecture)" ] && arch=native

step() { printf '\n=== package: %s\n' "$*"; }
start=$(date +%s)

if [ "$arch" = native ]; then
    scripts/install-deps.sh --package
    preset=release
    dir=build-release
elif [ "$arch" = arm64 ]; then
    scripts/install-deps.sh --package --cross
    preset=arm64
    dir=build-arm64
else
    echo "package: --arch amd64 or arm64" >&2
    exit 2
fi

step "build ($preset preset, prefix /usr)"
cmake --preset "$preset" >/dev/null
nice -n 10 cmake --build --preset "$preset" -j "$(nproc)"

step "cpack"
rm -f "$dir"/storekeeper_*.deb "$dir"/storekeeper-*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/storekeeper_*.deb)
camdeb=$(ls "$dir"/storekeeper-camera_*.deb)
lcdeb=$(ls "$dir"/storekeeper-libcamera_*.deb 2>/dev/null || true)
debarch=$(dpkg-deb -f "$deb" Architecture)
version=$(dpkg-deb -f "$deb" Version)
# The symbols CPack stripped, kept beside the package for core dumps from the field.
objcopy_bin=objcopy
[ "$debarch" = arm64 ] && objcopy_bin=aarch64-linux-gnu-objcopy
$objcopy_bin --only-keep-debug "$dir/storekeeper" "$dir/storekeeper_${version}_${debarch}.debug"
for m in "$dir"/lib/storekeeper/*.so; do
    $objcopy_bin --only-keep-debug "$m" "$dir/storekeeper-$(basename "$m" .so)_${version}_${debarch}.debug"
done

step "contents"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/control"
fail=0
for f in usr/bin/storekeeper etc/storekeeper/store.cfg lib/systemd/system/storekeeper.service \
    usr/share/storekeeper/boards/rpi4.cfg usr/share/storekeeper/boards/rpi5.cfg \
    usr/share/storekeeper/boards/cm4.cfg usr/share/storekeeper/boards/generic-x86.cfg \
    usr/share/storekeeper/boards/sim.cfg usr/share/doc/storekeeper/copyright \
    usr/share/doc/storekeeper/operator.md usr/share/man/man1/storekeeper.1.gz; do
    if [ ! -e "$tmp/root/$f" ]; then
        echo "package: /$f is missing from $deb" >&2
        fail=1
    fi
done
[ -d "$tmp/root/var/lib/storekeeper" ] || { echo "package: no /var/lib/storekeeper" >&2; fail=1; }
grep -qx /etc/storekeeper/store.cfg "$tmp/control/conffiles" ||
    { echo "package: store.cfg is not a conffile" >&2; fail=1; }
file "$tmp/root/usr/bin/storekeeper" | grep -q stripped ||
    { echo "package: the binary is not stripped" >&2; fail=1; }
case "$debarch" in
amd64) file "$tmp/root/usr/bin/storekeeper" | grep -q x86-64 || fail=1 ;;
arm64) file "$tmp/root/usr/bin/storekeeper" | grep -q aarch64 || fail=1 ;;
esac
# The base package maps no camera library: no camera module in it, no OpenCV among its
# dependencies (they belong to storekeeper-camera). Its one module is the status page's HTTP
# server (status-http.so, libmicrohttpd), loaded only when http.enabled is on.
if dpkg-deb -c "$deb" | grep '\.so$' | grep -vq '/storekeeper/status-http\.so$'; then
    echo "package: $deb ships a camera module (they belong to the camera packages)" >&2
    fail=1
fi
case "$(dpkg-deb -f "$deb" Depends)" in
*opencv* | *libcamera* | *libstdc++*)
    echo "package: $deb depends on camera libraries: $(dpkg-deb -f "$deb" Depends)" >&2
    fail=1
    ;;
esac
multiarch=$(dpkg-architecture -a "$debarch" -qDEB_HOST_MULTIARCH 2>/dev/null || echo "")
dpkg-deb -c "$deb" | grep -q "usr/lib/$multiarch/storekeeper/status-http.so$" ||
    { echo "package: $deb lacks status-http.so" >&2; fail=1; }
dpkg-deb -c "$camdeb" | grep -q "usr/lib/$multiarch/storekeeper/vision-opencv.so$" ||
    { echo "package: $camdeb lacks vision-opencv.so" >&2; fail=1; }
[ -z "$lcdeb" ] || dpkg-deb -c "$lcdeb" | grep -q "/storekeeper/camera-libcamera.so$" ||
    { echo "package: $lcdeb lacks camera-libcamera.so" >&2; fail=1; }
[ "$fail" = 0 ] || { echo "package: contents check FAILED" >&2; exit 1; }
echo "contents ok: $(dpkg-deb -c "$deb" | wc -l) entries, conffiles: $(cat "$tmp/control/conffiles")"

step "systemd-analyze verify"
# The unit as shipped, with ExecStart pointed at the extracted binary (verify checks that it
# exists and is executable) and man pointed at the shipped page (Documentation=man:...).
sed "s#^ExecStart=/usr/bin/storekeeper#ExecStart=$tmp/root/usr/bin/storekeeper#" \
    "$tmp/root/lib/systemd/system/storekeeper.service" >"$tmp/storekeeper.service"
if ! MANPATH="$tmp/root/usr/share/man" systemd-analyze verify "$tmp/storekeeper.service" \
    >"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
    cat "$tmp/verify.log" >&2
    echo "package: systemd-analyze verify FAILED" >&2
    exit 1
fi
echo "verify ok"
systemd-analyze security --offline=true "$tmp/storekeeper.service" 2>/dev/null | tail -1 || true

step "lintian"
# Lintian reads our overrides from the package itself. Errors fail; warnings are printed
# and each one is either fixed or explained in scripts/deploy/lintian-overrides.
for d in "$deb" "$camdeb" $lcdeb; do
    lintian --fail-on error --pedantic --info "$d" 2>&1 | grep -v '^N:\|running with root' || true
    lintian --fail-on error "$d" >/dev/null 2>&1 ||
        { echo "package: lintian errors in $d" >&2; exit 1; }
done
echo "lintian: no errors"

step "done in $(($(date +%s) - start)) s"
echo "package: $deb ($(stat -c %s "$deb") bytes, installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
echo "package: Depends: $(dpkg-deb -f "$deb" Depends)"
for d in "$camdeb" $lcdeb; do
    echo "package: $d ($(stat -c %s "$d") bytes), Depends: $(dpkg-deb -f "$d" Depends)"
done
echo "package: symbols: $dir/storekeeper_${version}_${debarch}.debug"
