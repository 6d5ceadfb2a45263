#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the amd64 .deb into a clean Debian 12 root (debootstrap, minbase plus systemd, as on
# Raspberry Pi OS Lite) with apt, and checks what an operator relies on: dependencies
# resolved, files, the service user and its groups, directory ownership, the unit enabled
# and passing `systemd-analyze verify` there, `storekeeper version`, `--check-config` and a
# short run as the service user, an upgrade that keeps the edited conffile, and remove and
# purge that keep the ledger.
#   scripts/chroot-install-test.sh [--deb FILE] [--keep]
# --deb: test this package instead of building one (scripts/package.sh); --keep: leave the
# root for inspection. The debootstrapped base is cached in $SK_CHROOT_DIR
# (/var/tmp/storekeeper-chroot); delete it to start from scratch. $SK_DEBIAN_MIRROR
# overrides http://deb.debian.org/debian. Needs root (chroot, mount).
set -eu
cd "$(dirname "$0")/.."
deb=""
keep=""
while [ $# -gt 0 ]; do
    case "$1" in
    --deb)
        deb=${2:?--deb needs a file}
        shift
        ;;
    --keep) keep=1 ;;
    -h | --help)
        sed -n '3,14p' "$0"
        exit 0
        ;;
    *)
        echo "chroot-test: unknown option $1" >&2
        exit 2
        ;;
    esac
    shift
done
[ "$(id -u)" -eq 0 ] || { echo "chroot-test: needs root (chroot, mount)" >&2; exit 1; }

dir=${SK_CHROOT_DIR:-/var/tmp/storekeeper-chroot}
mirror=${SK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$dir/bookworm-base
root=$dir/root
step() { printf '\n=== chroot-test: %s\n' "$*"; }
t0=$(date +%s)

scripts/install-deps.sh --package --chroot
if [ -z "$deb" ]; then
    scripts/package.sh
    deb=$(ls build-release/storekeeper_*_amd64.deb)
fi
deb=$(readlink -f "$deb")

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_user() { in_root setpriv --reuid storekeeper --regid storekeeper --init-groups "$@"; }
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    if [ -z "$keep" ]; then
        rm -rf "$root"
    else
        echo "chroot-test: root kept in $root"
    fi
}

if [ ! -d "$base" ]; then
    step "debootstrap Debian 12 (minbase) into $base"
    rm -rf "$base.tmp"
    mkdir -p "$dir"
    nice -n 10 debootstrap --variant=minbase bookworm "$base.tmp" "$mirror"
    # Raspberry Pi OS follows bookworm's point releases and security updates.
    security=$(echo "$mirror" | sed 's#/debian$#/debian-security#')
    cat >"$base.tmp/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    # No services start inside the root (there is no systemd running there anyway).
    printf '#!/bin/sh\nexit 101\n' >"$base.tmp/usr/sbin/policy-rc.d"
    chmod 0755 "$base.tmp/usr/sbin/policy-rc.d"
    mount -t proc proc "$base.tmp/proc"
    chroot "$base.tmp" env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -q && apt-get install -y -q --no-install-recommends systemd' ||
        { umount "$base.tmp/proc"; exit 1; }
    umount "$base.tmp/proc"
    chroot "$base.tmp" apt-get clean
    mv "$base.tmp" "$base"
fi

step "fresh root from the cached base"
rm -rf "$root"
cp -a "$base" "$root"
trap cleanup EXIT
mount -t proc proc "$root/proc"
t1=$(date +%s)

failures=0
pass() { echo "PASS $*"; }
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}
check() {
    what=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
# Inside the root: user and group names are the root's, not this machine's.
statof() { in_root stat -c '%U:%G %a' "$1"; }

step "apt-get install $(basename "$deb")"
cp "$deb" "$root/tmp/"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    /tmp/$(basename "$deb")"
t2=$(date +%s)

step "checks after install"
check "package installed" in_root dpkg-query -W -f='${Status}\n' storekeeper
[ "$(in_root dpkg-query -W -f='${Status}' storekeeper)" = "install ok installed" ] &&
    pass "status: install ok installed" || fail "status"
for f in /usr/bin/storekeeper /etc/storekeeper/store.cfg /lib/systemd/system/storekeeper.service \
    /usr/share/storekeeper/boards/rpi4.cfg /usr/share/storekeeper/boards/rpi5.cfg \
    /usr/share/storekeeper/boards/cm4.cfg /usr/share/storekeeper/boards/generic-x86.cfg \
    /usr/share/storekeeper/boards/sim.cfg /usr/share/doc/storekeeper/operator.md \
    /usr/share/doc/storekeeper/copyright /usr/share/man/man1/storekeeper.1.gz; do
    check "file $f" test -e "$root$f"
done
check "conffile /etc/storekeeper/store.cfg" sh -c \
    "chroot '$root' dpkg-query -W -f='\${Conffiles}' storekeeper | grep -q ' /etc/storekeeper/store.cfg '"
pw=$(in_root getent passwd storekeeper || true)
echo "user: $pw"
case "$pw" in
storekeeper:x:*:*:*:/var/lib/storekeeper:/usr/sbin/nologin) pass "user storekeeper, no login" ;;
*) fail "user storekeeper" ;;
esac
uid=$(echo "$pw" | cut -d: -f3)
[ -n "$uid" ] && [ "$uid" -lt 1000 ] && pass "system uid $uid" || fail "system uid ($uid)"
groups=$(in_root id -nG storekeeper || true)
echo "groups: $groups"
case " $groups " in *" dialout "*) pass "in dialout" ;; *) fail "in dialout" ;; esac
case " $groups " in *" video "*) pass "in video" ;; *) fail "in video" ;; esac
[ "$(statof /var/lib/storekeeper)" = "storekeeper:storekeeper 750" ] &&
    pass "/var/lib/storekeeper storekeeper:storekeeper 750" ||
    fail "/var/lib/storekeeper is $(statof /var/lib/storekeeper)"
[ "$(statof /etc/storekeeper)" = "root:storekeeper 750" ] &&
    pass "/etc/storekeeper root:storekeeper 750" ||
    fail "/etc/storekeeper is $(statof /etc/storekeeper)"
check "unit enabled (multi-user.target.wants)" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/storekeeper.service"
# The real unit in a real Debian 12 with systemd: paths, users and directives all resolve.
# (man-db is not in the root; package.sh checks the man page.)
if in_root systemd-analyze verify --man=no /lib/systemd/system/storekeeper.service \
    >"$root/tmp/verify.log" 2>&1 && [ ! -s "$root/tmp/verify.log" ]; then
    pass "systemd-analyze verify (inside the root)"
else
    cat "$root/tmp/verify.log"
    fail "systemd-analyze verify (inside the root)"
fi
echo "--- storekeeper version (as storekeeper)"
as_user /usr/bin/storekeeper version && pass "storekeeper version" || fail "storekeeper version"
echo "--- storekeeper run -c /etc/storekeeper/store.cfg --check-config (as storekeeper)"
as_user /usr/bin/storekeeper run -c /etc/storekeeper/store.cfg --check-config &&
    pass "--check-config of the shipped store.cfg" || fail "--check-config"
echo "--- storekeeper run for 2 s (as storekeeper, no systemd)"
if as_user /usr/bin/storekeeper run -c /etc/storekeeper/store.cfg --duration 2 \
    >"$root/tmp/run.log" 2>&1; then
    pass "run --duration 2 exits 0"
else
    cat "$root/tmp/run.log"
    fail "run --duration 2"
fi
tail -3 "$root/tmp/run.log"
check "the run created the ledger" test -s "$root/var/lib/storekeeper/ledger.db"
check "the ledger is an SQLite file" grep -q "SQLite format 3" "$root/var/lib/storekeeper/ledger.db"
[ "$(in_root stat -c %U /var/lib/storekeeper/ledger.db)" = storekeeper ] &&
    pass "the ledger belongs to storekeeper" || fail "ledger owner"

step "upgrade to a rebuilt 'next version' keeps the edited conffile and the ledger"
sed -i 's/^  level = "info";/  level = "notice";/' "$root/etc/storekeeper/store.cfg"
# Something an operator keeps beside the ledger: a backup made with the online backup API.
as_user sh -c 'mkdir /var/lib/storekeeper/backup && cp /var/lib/storekeeper/ledger.db /var/lib/storekeeper/backup/ledger-1.db'
version=$(dpkg-deb -f "$deb" Version)
next="${version%-*}-$((${version##*-} + 1))"
rm -rf "$root/tmp/next"
dpkg-deb -R "$deb" "$root/tmp/next"
sed -i "s/^Version: .*/Version: $next/" "$root/tmp/next/DEBIAN/control"
# The new version changes the conffile too: dpkg must keep the operator's (we answer as
# --force-confold does) and put the new one beside it.
echo "# changed in $next" >>"$root/tmp/next/etc/storekeeper/store.cfg"
(cd "$root/tmp/next" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' |
    sort -z | xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb -b "$root/tmp/next" "$root/tmp/storekeeper_next.deb" >/dev/null
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold /tmp/storekeeper_next.deb"
[ "$(in_root dpkg-query -W -f='${Version}' storekeeper)" = "$next" ] &&
    pass "upgraded to $next" || fail "upgrade to $next"
check "edited store.cfg kept" grep -q '^  level = "notice";' "$root/etc/storekeeper/store.cfg"
check "the new store.cfg as store.cfg.dpkg-dist" grep -q "changed in $next" \
    "$root/etc/storekeeper/store.cfg.dpkg-dist"
check "ledger kept" test -s "$root/var/lib/storekeeper/ledger.db"
[ "$(statof /var/lib/storekeeper)" = "storekeeper:storekeeper 750" ] &&
    pass "ownership kept on upgrade" || fail "ownership after upgrade: $(statof /var/lib/storekeeper)"
if as_user /usr/bin/storekeeper run -c /etc/storekeeper/store.cfg --duration 1 \
    >"$root/tmp/run2.log" 2>&1; then
    pass "the upgraded package runs on the existing ledger"
else
    cat "$root/tmp/run2.log"
    fail "run after upgrade"
fi

step "apt-get remove, then purge: the ledger stays"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q storekeeper"
check "binary removed" test ! -e "$root/usr/bin/storekeeper"
check "conffile kept on remove" test -e "$root/etc/storekeeper/store.cfg"
check "ledger kept on remove" test -s "$root/var/lib/storekeeper/ledger.db"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q storekeeper" 2>&1 |
    tee "$root/tmp/purge.log"
check "purge says the ledger is kept" grep -q "kept /var/lib/storekeeper" "$root/tmp/purge.log"
check "conffile gone after purge" test ! -e "$root/etc/storekeeper/store.cfg"
check "ledger kept on purge" test -s "$root/var/lib/storekeeper/ledger.db"
check "ledger backup kept on purge" test -s "$root/var/lib/storekeeper/backup/ledger-1.db"
[ "$(in_root stat -c %U /var/lib/storekeeper/ledger.db)" = storekeeper ] &&
    pass "ledger still owned by storekeeper" || fail "ledger owner after purge"
check "user kept on purge" in_root getent passwd storekeeper
check "statoverrides dropped" sh -c "! chroot '$root' dpkg-statoverride --list | grep -q storekeeper"

step "reinstall after purge reuses the user and the ledger"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    /tmp/$(basename "$deb")" >/dev/null
check "reinstalled" in_root /usr/bin/storekeeper version
check "ledger still there" test -s "$root/var/lib/storekeeper/ledger.db"
[ "$(statof /var/lib/storekeeper)" = "storekeeper:storekeeper 750" ] &&
    pass "ownership after reinstall" || fail "ownership after reinstall"
t3=$(date +%s)

step "done: $failures failure(s); root $((t1 - t0)) s, install $((t2 - t1)) s, checks $((t3 - t2)) s"
[ "$failures" -eq 0 ]
