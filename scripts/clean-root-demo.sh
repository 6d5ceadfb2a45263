#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's first command on a clean machine: a fresh Debian 12 root (debootstrap minbase
# plus systemd, cached: scripts/chroot-lib.sh), this repository cloned into it, and there
# `scripts/demo.sh` exactly as the README says, as root, with nothing installed beforehand.
# Passes when the demo exits 0, printed checkouts received over MQTT and its score, and the
# ledger it left passes `ledger verify`.
#   scripts/clean-root-demo.sh [--short] [--keep]
# --short (scripts/test.sh): `scripts/demo.sh examples/scenarios/01-one-shopper.scn`, the
# README's command with its one-shopper scenario (a few seconds instead of the minute); the
# set-up from nothing is the same. Needs root (chroot, mount) and Debian's archive. Takes
# ~4.5 minutes the first time (downloads), less with the package cache warm.
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
keep=""
demo_args=""
for a in "$@"; do
    case "$a" in
    --keep) keep=1 ;;
    --short) demo_args=examples/scenarios/01-one-shopper.scn ;;
    -h | --help) script_help ;;
    *) unknown_option clean-root-demo "$a" ;;
    esac
done
. scripts/chroot-lib.sh
chroot_need_root clean-root-demo
command -v debootstrap >/dev/null || scripts/install-deps.sh --chroot
root=$dir/demo-root
src=$(pwd)
t0=$(date +%s)
chroot_base
cleanup() {
    set +e
    chroot_release "$root"
    if [ -z "$keep" ]; then rm -rf "$root"; else echo "clean-root-demo: root kept in $root"; fi
}
trap cleanup EXIT
chroot_fresh "$root"
# The clone the README reader has: this repository's committed HEAD, no build tree.
git clone -q --no-hardlinks "$src" "$root/root/storekeeper"
git -C "$root/root/storekeeper" checkout -q "$(git -C "$src" rev-parse HEAD)"
t1=$(date +%s)

echo "=== clean-root-demo: scripts/demo.sh $demo_args in a fresh Debian 12 root"
set +e
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    sh -c "cd /root/storekeeper && scripts/demo.sh $demo_args" >"$dir/demo.log" 2>&1
rc=$?
set -e
t2=$(date +%s)
failures=0
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}
pass() { echo "PASS $*"; }
tail -25 "$dir/demo.log"
[ "$rc" -eq 0 ] && pass "scripts/demo.sh exits 0" || fail "scripts/demo.sh exited $rc ($dir/demo.log)"
grep -q "checkout" "$dir/demo.log" && pass "checkouts printed" || fail "no checkout printed"
grep -Eq "exact carts|precision" "$dir/demo.log" && pass "score printed" || fail "no score"
if chroot "$root" env -i PATH=/usr/bin:/bin /root/storekeeper/build/storekeeper ledger \
    --db /tmp/storekeeper-demo/ledger.db verify >"$dir/verify.log" 2>&1; then
    pass "the demo's ledger verifies"
else
    cat "$dir/verify.log"
    fail "ledger verify"
fi
echo "=== clean-root-demo: $failures failure(s); root $((t1 - t0)) s, demo (install, build, run) $((t2 - t1)) s"
[ "$failures" -eq 0 ]
