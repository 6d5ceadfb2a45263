# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared by the scripts that work in a clean Debian root (sourced, not run, from the
# repository's top): chroot-install-test.sh, systemd-vm-test.sh, clean-root-demo.sh and
# footprint.sh. The cached Debian 12 base root and a fresh copy of it, the root check, and the
# options and package of the two install tests.
#   SK_CHROOT_DIR    where the base is cached (/var/tmp/storekeeper-chroot); delete it to
#                    start from scratch
#   SK_DEBIAN_MIRROR the archive (http://deb.debian.org/debian)
# The base is debootstrap's minbase plus systemd, as on Raspberry Pi OS Lite: the smallest
# Debian 12 an operator or a developer starts from. Downloaded packages are kept in
# $dir/apt-archives between runs (bind-mounted as the root's /var/cache/apt/archives), so a
# second run installs from the cache; the root itself is new every time.

. scripts/lib.sh

dir=${SK_CHROOT_DIR:-/var/tmp/storekeeper-chroot}
mirror=${SK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$dir/bookworm-base

# chroot_need_root NAME: all of this needs root (chroot, mount); NAME is the script's.
chroot_need_root() {
    [ "$(id -u)" -eq 0 ] || {
        echo "$1: needs root (chroot, mount)" >&2
        exit 1
    }
}

# chroot_test_options NAME ARGS...: the options of the tests that install the package into a
# root: --deb FILE sets deb (test this package instead of building one), --keep sets keep
# (leave the root for inspection); then the root check.
chroot_test_options() {
    name=$1
    shift
    deb=""
    keep=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --deb)
            deb=${2:?--deb needs a file}
            shift
            ;;
        --keep) keep=1 ;;
        -h | --help) script_help ;;
        *) unknown_option "$name" "$1" ;;
        esac
        shift
    done
    chroot_need_root "$name"
}

# chroot_test_deb: deb made an absolute path; without --deb, the amd64 package that
# scripts/package.sh builds.
chroot_test_deb() {
    if [ -z "$deb" ]; then
        scripts/package.sh
        deb=$(ls build-release/storekeeper_*_amd64.deb)
    fi
    deb=$(readlink -f "$deb")
}

chroot_base() {
    [ -d "$base" ] && return 0
    echo "chroot: debootstrap Debian 12 (minbase) into $base"
    rm -rf "$base.tmp"
    mkdir -p "$dir"
    nice -n 10 debootstrap --variant=minbase bookworm "$base.tmp" "$mirror"
    # Raspberry Pi OS follows bookworm's point releases and security updates.
    security=$(echo "$mirror" | sed 's#/debian$#/debian-security#')
    cat >"$base.tmp/etc/apt/sources.list" <<EOT
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOT
    # No services start inside the root (there is no systemd running there anyway).
    printf '#!/bin/sh\nexit 101\n' >"$base.tmp/usr/sbin/policy-rc.d"
    chmod 0755 "$base.tmp/usr/sbin/policy-rc.d"
    mount -t proc proc "$base.tmp/proc"
    chroot "$base.tmp" env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -q && apt-get install -y -q --no-install-recommends systemd' ||
        { umount "$base.tmp/proc"; return 1; }
    umount "$base.tmp/proc"
    chroot "$base.tmp" apt-get clean
    mv "$base.tmp" "$base"
}

# chroot_fresh ROOT: a new root copied from the base, with /proc, /dev (and its pts and shm),
# the host's resolver and the package cache mounted. chroot_release ROOT undoes the mounts.
chroot_fresh() {
    chroot_release "$1"
    rm -rf "$1"
    cp -a "$base" "$1"
    mkdir -p "$dir/apt-archives/partial"
    mount -t proc proc "$1/proc"
    mount --rbind /dev "$1/dev"
    mount --make-rslave "$1/dev"
    mount --bind "$dir/apt-archives" "$1/var/cache/apt/archives"
    cp /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
}

chroot_release() {
    for m in var/cache/apt/archives dev proc; do
        if mountpoint -q "$1/$m" 2>/dev/null; then
            umount -R "$1/$m" 2>/dev/null || umount -l "$1/$m" 2>/dev/null || true
        fi
    done
}
