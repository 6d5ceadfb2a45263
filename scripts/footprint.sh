#!/bin/sh
# SPDX-License-Identifier: MIT
# What a clean Debian 12 (debootstrap minbase plus systemd, as Raspberry Pi OS Lite) installs
# for the packages: for each set, a fresh root from the cached base (scripts/chroot-lib.sh),
# `apt-get install` of the .debs as an operator would (recommendations included), then the
# number of packages added and the disk space they take, and the largest of them.
#   scripts/footprint.sh [--dir DIR] [--before DEB] [--markdown]
# --dir: where the .debs are (build-release/, scripts/package.sh makes them); --before: an
# older single package to measure beside them; --markdown: one table row per set (for
# docs/performance.md). Needs root (chroot, mount) and the Debian archive (or its cache in
# $SK_CHROOT_DIR/apt-archives).
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
debdir=build-release
before=""
markdown=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dir)
        debdir=${2:?--dir needs a directory}
        shift
        ;;
    --before)
        before=$(readlink -f "${2:?--before needs a .deb}")
        shift
        ;;
    --markdown) markdown=1 ;;
    -h | --help) script_help ;;
    *) unknown_option footprint "$1" ;;
    esac
    shift
done
. scripts/chroot-lib.sh
chroot_need_root footprint
main=$(ls "$debdir"/storekeeper_*.deb 2>/dev/null | head -1)
[ -n "$main" ] || { echo "footprint: no storekeeper_*.deb in $debdir (scripts/package.sh)" >&2; exit 1; }
main=$(readlink -f "$main")
camera=$(readlink -f "$(ls "$debdir"/storekeeper-camera_*.deb)")
libcamera=$(ls "$debdir"/storekeeper-libcamera_*.deb 2>/dev/null | head -1)
[ -z "$libcamera" ] || libcamera=$(readlink -f "$libcamera")
chroot_base
root=$dir/footprint-root
trap 'chroot_release "$root"; rm -rf "$root"' EXIT

# measure LABEL DEB...: packages added and their installed size (dpkg's Installed-Size, KiB)
measure() {
    label=$1
    shift
    chroot_fresh "$root"
    chroot "$root" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null'
    chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$root/tmp/before.list"
    for d in "$@"; do cp "$d" "$root/tmp/"; done
    names=""
    for d in "$@"; do names="$names /tmp/$(basename "$d")"; done
    chroot "$root" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q $names" \
        >"$root/tmp/install.log" 2>&1 || { cat "$root/tmp/install.log"; exit 1; }
    chroot "$root" dpkg-query -W -f='${Package} ${Installed-Size}\n' | sort >"$root/tmp/after.list"
    added=$(awk 'NR==FNR {had[$1] = 1; next} !($1 in had)' "$root/tmp/before.list" \
        "$root/tmp/after.list")
    n=$(echo "$added" | grep -c .)
    kib=$(echo "$added" | awk '{s += $2} END {print s}')
    mb=$(awk -v k="$kib" 'BEGIN {printf "%.0f", k / 1024}')
    gfx=$(echo "$added" | awk '$1 ~ /^(libgl|libglx|libgl1|libllvm|libx11|libxcb|libicu|mesa|libdrm|libvulkan|libz3|libsensors|libxext|libwayland)/ {s += $2} END {printf "%.0f", s / 1024}')
    top=$(echo "$added" | sort -k2 -n -r | head -5 | awk '{printf "%s%s %.0f MB", (NR > 1 ? ", " : ""), $1, $2 / 1024}')
    if [ -n "$markdown" ]; then
        echo "| $label | $n | $mb MB | $gfx MB | $top |"
    else
        echo "footprint: $label: $n packages, $mb MB installed ($gfx MB graphics stack: Mesa, X11, LLVM, ICU); largest: $top"
    fi
    chroot_release "$root"
}

[ -n "$markdown" ] && echo "| what is installed | packages added | installed size | of which graphics (Mesa, X11, LLVM, ICU) | largest |" &&
    echo "|---|---|---|---|---|"
[ -z "$before" ] || measure "before: one package (main at the start of issue 17)" "$before"
measure "storekeeper (no camera)" "$main"
measure "storekeeper + storekeeper-camera (V4L2 cameras)" "$main" "$camera"
[ -z "$libcamera" ] || measure "storekeeper + storekeeper-camera + storekeeper-libcamera (Pi CSI cameras)" "$main" "$camera" "$libcamera"
