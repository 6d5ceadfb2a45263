#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the amd64 .deb into a clean Debian 12 root (debootstrap, minbase plus systemd, as on
# Raspberry Pi OS Lite) with apt, and checks what an operator relies on: dependencies
# resolved, files, the service user and its groups, directory ownership, the unit enabled
# and passing `systemd-analyze verify` there, `storekeeper version`, `--check-config` and a
# short run as the service user; then docs/operator.md step by step, each step's output
# asserted (the store's own store_id, --check-config, the catalog and the first fill, the
# start on the example store's ledger, `diag all` PASS, a cloud catalog change surviving a
# reload); an upgrade that keeps the edited conffile, and remove and purge that keep the
# ledger. No systemd runs in a chroot: the daemon is started the guide's way without it
# (scripts/systemd-vm-test.sh runs the unit under a real systemd).
#   scripts/chroot-install-test.sh [--deb FILE] [--keep]
# --deb: test this package instead of building one (scripts/package.sh); --keep: leave the
# root for inspection. The debootstrapped base and the downloaded packages are cached in
# $SK_CHROOT_DIR (/var/tmp/storekeeper-chroot; scripts/chroot-lib.sh); delete it to start
# from scratch. $SK_DEBIAN_MIRROR overrides http://deb.debian.org/debian. Needs root.
set -eu
cd "$(dirname "$0")/.."
. scripts/chroot-lib.sh
chroot_test_options chroot-test "$@"
root=$dir/root
step() { printf '\n=== chroot-test: %s\n' "$*"; }
t0=$(date +%s)

scripts/install-deps.sh --package --chroot
chroot_test_deb

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_user() { in_root setpriv --reuid storekeeper --regid storekeeper --init-groups "$@"; }
cleanup() {
    set +e
    for f in daemon broker reader; do
        [ -s "$root/tmp/$f.pid" ] && kill "$(cat "$root/tmp/$f.pid")" 2>/dev/null
    done
    chroot_release "$root"
    if [ -z "$keep" ]; then
        rm -rf "$root"
    else
        echo "chroot-test: root kept in $root"
    fi
}

chroot_base

step "fresh root from the cached base"
trap cleanup EXIT
chroot_fresh "$root"
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
    /usr/share/doc/storekeeper/copyright /usr/share/man/man1/storekeeper.1.gz \
    /usr/share/bash-completion/completions/storekeeper \
    /usr/share/doc/storekeeper/examples/broker/mosquitto.conf \
    /usr/share/doc/storekeeper/examples/broker/acl; do
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

step "docs/operator.md step by step (no systemd in a chroot: the guide's 'Without systemd' start)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport=$(free_port)
bport=$(free_port)
L="/usr/bin/storekeeper ledger -c /etc/storekeeper/store.cfg"
# The recommended local broker (step 2) and mosquitto_sub for step 8; no systemd starts it
# here, so it runs by hand on a free loopback port.
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    mosquitto mosquitto-clients" >/dev/null
check "step 2: apt install mosquitto" test -x "$root/usr/sbin/mosquitto"
# Each process started in the root writes its own pid (the host's: a chroot shares the pid
# space), so the signals below reach it and not a shell in between.
bg_in_root() { # NAME COMMAND...: runs in the background, its pid in /tmp/NAME.pid
    name=$1
    shift
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        sh -c 'echo $$ >/tmp/'"$name"'.pid; exec "$@"' sh "$@" </dev/null \
        >"$root/tmp/$name.log" 2>&1 &
    n=0
    while [ ! -s "$root/tmp/$name.pid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
}
pid_of() { cat "$root/tmp/$1.pid"; }
bg_in_root broker /usr/sbin/mosquitto -p "$mport"
# Step 3 stands in for the RS-485 bus: three virtual readers (Modbus TCP on loopback), the
# first with five tagged cans of COLA-033 (SGTIN-96 of its GTIN) on antenna 1.
python3 - "$root/tmp/reader.script" <<'EOF'
import sys
def sgtin96(gtin14, serial):
    company, item = int(gtin14[1:8]), int(gtin14[0] + gtin14[8:13])
    v = (0x30 << 88) | (1 << 85) | (5 << 82) | (company << 58) | (item << 38) | serial
    return "%024X" % v
with open(sys.argv[1], "w") as f:
    for s in range(1, 6):
        f.write("tag add 1 1 %s -55\n" % sgtin96("04099999000104", s))
EOF
bg_in_root reader /usr/bin/storekeeper sim reader --listen "tcp:127.0.0.1:$bport" \
    --units 1-3 --script /tmp/reader.script

# Step 5: the store's own file (the guide's example, its bus the virtual readers', no camera).
cat >"$root/etc/storekeeper/store.cfg" <<EOF
# Corner shop 0142 (docs/operator.md, step 5), in the install test's clean root.
store_id = "shop-0142";
device_id = "edge-01";
board = "generic-x86";
log = {
  level = "info";
};
products_file = "products.csv";
tags_file = "tags.csv";
planogram_file = "planogram.csv";
buses = ( { name = "shelves"; url = "tcp:127.0.0.1:$bport"; poll_interval_ms = 200; } );
readers = (
  { name = "r1"; bus = "shelves"; unit = 1; profile = "generic-epc"; },
  { name = "r2"; bus = "shelves"; unit = 2; profile = "generic-epc"; },
  { name = "r3"; bus = "shelves"; unit = 3; profile = "generic-epc"; }
);
shelves = (
  { name = "A1"; reader = "r1"; antenna = 1; },
  { name = "B1"; reader = "r2"; antenna = 1; },
  { name = "C1"; reader = "r3"; antenna = 1; },
  { name = "D1"; reader = "r3"; antenna = 2; }
);
mqtt = { host = "127.0.0.1"; port = $mport; };
ledger = { path = "/var/lib/storekeeper/ledger.db"; };
EOF
# Step 6's files first: --check-config imports them too.
in_root sh -c 'cp /usr/share/doc/storekeeper/examples/products.csv \
    /usr/share/doc/storekeeper/examples/tags.csv /usr/share/doc/storekeeper/examples/planogram.csv \
    /etc/storekeeper/'
as_user /usr/bin/storekeeper run -c /etc/storekeeper/store.cfg --check-config \
    >"$root/tmp/check.log" 2>&1
grep -q "configuration OK" "$root/tmp/check.log" && grep -q "store shop-0142, device edge-01" \
    "$root/tmp/check.log" && pass "step 5: --check-config as storekeeper: OK, store shop-0142" ||
    { cat "$root/tmp/check.log"; fail "step 5: --check-config"; }

# Step 6: the catalog by hand, the first fill, the stock.
as_user $L import products /etc/storekeeper/products.csv --dry-run >"$root/tmp/s6.log" 2>&1 &&
    grep -q "row(s)" "$root/tmp/s6.log" && pass "step 6: import products --dry-run" ||
    { cat "$root/tmp/s6.log"; fail "step 6: import --dry-run"; }
as_user $L import products /etc/storekeeper/products.csv >"$root/tmp/s6.log" 2>&1 &&
    grep -q " new" "$root/tmp/s6.log" && pass "step 6: import products (the example store's empty ledger adopted)" ||
    { cat "$root/tmp/s6.log"; fail "step 6: import products"; }
as_user $L restock --shelf A1 --sku COLA-033 --quantity 24 --note "first fill" \
    >"$root/tmp/s6.log" 2>&1 && grep -q "stock there now 24" "$root/tmp/s6.log" &&
    pass "step 6: restock --quantity 24 (first fill)" || { cat "$root/tmp/s6.log"; fail "step 6: restock"; }
as_user $L stock >"$root/tmp/s6.log" 2>&1 && grep -Eq "A1 +COLA-033.* 24" "$root/tmp/s6.log" &&
    pass "step 6: stock shows A1 COLA-033 24" || { cat "$root/tmp/s6.log"; fail "step 6: stock"; }

# Step 7 without systemd, as the guide says: the socket's directory, then the daemon.
in_root install -d -o storekeeper -g storekeeper -m 0750 /run/storekeeper
bg_in_root daemon setpriv --reuid storekeeper --regid storekeeper --init-groups \
    /usr/bin/storekeeper run -c /etc/storekeeper/store.cfg
wait_for() { # wait_for SECONDS COMMAND...: until it succeeds
    n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
wait_for 20 grep -q "core: running" "$root/tmp/daemon.log" &&
    pass "step 7: the daemon starts (core: running)" || fail "step 7: start"
grep -q "it is now the ledger of shop-0142/edge-01\|ledger: /var/lib/storekeeper/ledger.db: schema" \
    "$root/tmp/daemon.log" && ! grep -q "belongs to" "$root/tmp/daemon.log" &&
    pass "step 7: the ledger the package's first run made is the store's" ||
    { cat "$root/tmp/daemon.log"; fail "step 7: ledger identity"; }
wait_for 20 grep -q "mqtt: connected" "$root/tmp/daemon.log" && pass "step 7: broker connected" ||
    fail "step 7: broker"
# Readers report up after their first polls; then diag all must PASS.
wait_for 30 sh -c "chroot '$root' /usr/bin/storekeeper diag all >'$root/tmp/diag.log' 2>&1"
if grep -q "^PASS" "$root/tmp/diag.log" && ! grep -q "^FAIL" "$root/tmp/diag.log" &&
    grep -q "via the daemon" "$root/tmp/diag.log"; then
    pass "step 7: storekeeper diag all: PASS via the daemon"
else
    cat "$root/tmp/diag.log"
    fail "step 7: diag all"
fi
# The first fill and the readers agree: 24 by hand, 5 tags seen, not 29.
sleep 2
as_user $L stock >"$root/tmp/s7.log" 2>&1
grep -Eq "A1 +COLA-033.* 24" "$root/tmp/s7.log" && pass "first fill: A1 COLA-033 still 24 with 5 tags seen" ||
    { cat "$root/tmp/s7.log"; fail "first fill counted twice"; }

# A catalog change from the cloud, then a reload (systemctl reload is SIGHUP): it stays.
in_root mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t storekeeper/v1/shop-0142/edge-01/cmd/catalog_upsert \
    -m '{"products":[{"sku":"COLA-033","name":"Cola 0.33 l","price_minor":129,"currency":"EUR"}]}'
wait_for 10 sh -c "[ \"\$(chroot '$root' /usr/bin/storekeeper ledger --db /var/lib/storekeeper/ledger.db export --table products 2>/dev/null | grep '^COLA-033,' | grep -c ',1.29,')\" = 1 ]" &&
    pass "cloud catalog_upsert: COLA-033 at 129" || fail "cloud catalog_upsert"
n_before=$(grep -c "unchanged since its last import" "$root/tmp/daemon.log" || true)
kill -HUP "$(pid_of daemon)"
wait_for 10 sh -c "[ \$(grep -c 'unchanged since its last import' '$root/tmp/daemon.log') -gt $n_before ]" &&
    grep -q "configuration reloaded\|reload" "$root/tmp/daemon.log" &&
    pass "reload (SIGHUP): products.csv unchanged, not imported again" || fail "reload"
[ "$(in_root /usr/bin/storekeeper ledger --db /var/lib/storekeeper/ledger.db export --table products | grep '^COLA-033,' | grep -c ',1.29,')" = 1 ] &&
    pass "the cloud's price survives the reload" || fail "the cloud's price was reverted by the reload"
kill "$(pid_of daemon)"
wait_for 10 grep -q "core: stopped" "$root/tmp/daemon.log" && pass "step 7: clean stop (core: stopped)" ||
    fail "step 7: stop"
for f in daemon reader broker; do
    kill "$(pid_of $f)" 2>/dev/null || true
    rm -f "$root/tmp/$f.pid"
done

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
