#!/bin/sh
# SPDX-License-Identifier: MIT
# The service under a real systemd: a Debian 12 root (the cached debootstrap base of
# scripts/chroot-lib.sh) with the amd64 package installed by apt boots as a VM under
# qemu-system-x86_64 (software emulation; SK_VM_KVM=1: KVM), systemd as PID 1.
# Inside, a test unit checks, with the unit's own sandbox in force:
#   - storekeeper.service starts (Type=notify: active only after READY=1), as storekeeper,
#     with NoNewPrivileges, no capabilities, the file system read-only but the state dir;
#   - the ledger is created under /var/lib/storekeeper and verifies;
#   - a serial port works inside the sandbox: a reader on /dev/ttyS1 (a virtual reader on
#     the host, through qemu's second serial port) comes up;
#   - the control socket answers `storekeeper diag status` and `diag all`;
#   - a hung main loop (SIGSTOP) is killed by the systemd watchdog and restarted
#     (WatchdogSec shortened to 6 s by a drop-in, as an operator's `systemctl edit` would);
#   - the ledger removed under the running daemon is written back and the unit restarted;
#   - `systemctl stop` drains cleanly: exit 0, "core: stopped", within TimeoutStopSec.
# Each check prints PASS/FAIL on the VM's console, which this script reads.
#   scripts/systemd-vm-test.sh [--deb FILE] [--keep]
# The long form, not in scripts/test.sh: several minutes under software emulation after the
# package build (root, apt, the kernel and busybox-static from Debian's archive, cached in
# $SK_CHROOT_DIR); SK_VM_KVM=1 uses KVM where it works. Needs root.
set -eu
cd "$(dirname "$0")/.."
. scripts/chroot-lib.sh
chroot_test_options systemd-vm-test "$@"
command -v qemu-system-x86_64 >/dev/null || scripts/install-deps.sh --test --chroot
root=$dir/vm-root
work=$dir/vm-work
t0=$(date +%s)
chroot_test_deb
chroot_base

# The kernel, the modules the root disk needs (virtio_blk, ext4, their dependencies, in
# load order) and busybox-static for the initramfs, from Debian's archive (cached).
mkdir -p "$dir/vm-parts"
if [ ! -s "$dir/vm-parts/vmlinuz" ] || [ ! -s "$dir/vm-parts/busybox" ] || [ ! -d "$dir/vm-parts/mods" ]; then
    tmp=$(mktemp -d "$dir/vm-parts/dl.XXXXXX")
    image=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\).*/\1/p' | head -1)
    (cd "$tmp" && apt-get download "$image" busybox-static >/dev/null)
    dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k"
    cp "$tmp"/k/boot/vmlinuz-* "$dir/vm-parts/vmlinuz"
    rm -rf "$dir/vm-parts/mods"
    mkdir -p "$dir/vm-parts/mods"
    python3 - "$tmp/k" "$dir/vm-parts/mods" <<'EOF'
import os, re, shutil, sys
tree, out = sys.argv[1], sys.argv[2]
mods = {}
for d, _, fs in os.walk(tree):
    for f in fs:
        if f.endswith(".ko"):
            mods[f[:-3].replace("_", "-")] = os.path.join(d, f)
order, seen = [], set()
def visit(name):
    key = name.replace("_", "-")
    if key in seen or key not in mods:  # not a module: built into the kernel
        return
    seen.add(key)
    data = open(mods[key], "rb").read()
    m = re.search(rb"depends=([^\0]*)\0", data)
    for dep in (m.group(1).decode().split(",") if m else []):
        if dep:
            visit(dep)
    order.append(key)
for name in ("virtio-pci", "virtio-blk", "crc32c-generic", "ext4"):
    visit(name)
for i, key in enumerate(order):
    shutil.copy(mods[key], os.path.join(out, "%02d-%s.ko" % (i, key)))
EOF
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/b"
    cp "$tmp/b/bin/busybox" "$dir/vm-parts/busybox"
    rm -rf "$tmp"
fi

cleanup() {
    set +e
    [ -n "${qemu_pid:-}" ] && kill "$qemu_pid" 2>/dev/null
    [ -n "${socat_pid:-}" ] && kill "$socat_pid" 2>/dev/null
    [ -n "${reader_pid:-}" ] && kill "$reader_pid" 2>/dev/null
    chroot_release "$root"
    if [ -z "$keep" ]; then rm -rf "$root" "$work"; fi
}
trap cleanup EXIT
chroot_fresh "$root"
# udev as on every Raspberry Pi OS image: it gives /dev/ttyS* to the dialout group (devtmpfs
# alone leaves them root's, and the service user could not open its serial port).
echo "=== systemd-vm-test: apt-get install $(basename "$deb") udev into the VM's root"
cp "$deb" "$root/tmp/"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends /tmp/$(basename "$deb") udev >/dev/null"
chroot_release "$root"
rm -f "$root/usr/sbin/policy-rc.d" "$root/tmp/$(basename "$deb")"
# What the VM does not need.
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/usr/share/doc" \
    "$root/usr/share/man" "$root/usr/share/locale" "$root/usr/share/info"

# The store: one reader on the VM's second serial port, no broker, the ledger where the
# packaged store.cfg puts it (the only place the sandbox lets the service write).
cat >"$root/etc/storekeeper/store.cfg" <<'EOF'
store_id = "vm-store";
device_id = "edge-01";
board = "generic-x86";
buses = ( { name = "line"; url = "rtu:/dev/ttyS1:115200:8E1"; poll_interval_ms = 100; } );
readers = ( { name = "r7"; bus = "line"; unit = 7; } );
shelves = ( { name = "A1"; reader = "r7"; antenna = 1; } );
mqtt = { enabled = false; };
ledger = { path = "/var/lib/storekeeper/ledger.db"; };
EOF
# Software emulation on a loaded host runs the guest many times slower than KVM: its waits,
# the watchdog and the start timeout are scaled (SK_VM_SCALE; 1 under KVM, else 4).
if [ "${SK_VM_KVM:-0}" = 1 ]; then scale=${SK_VM_SCALE:-1}; else scale=${SK_VM_SCALE:-4}; fi
echo "$scale" >"$root/etc/vm-test-scale"
mkdir -p "$root/etc/systemd/system/storekeeper.service.d"
cat >"$root/etc/systemd/system/storekeeper.service.d/vm-test.conf" <<EOF
# systemd-vm-test: a short watchdog and restart delay, so the test waits seconds, not a minute.
[Service]
WatchdogSec=$((6 * scale))s
RestartSec=1s
TimeoutStartSec=$((60 * scale))s
EOF
cat >"$root/usr/local/bin/vm-test" <<'EOF'
#!/bin/sh
# Runs inside the VM after boot; results on the console (ttyS0).
exec >/dev/ttyS0 2>&1
pass() { echo "VMTEST PASS $*"; }
fail() { echo "VMTEST FAIL $*"; }
# Waits are multiplied by the scale the host wrote (software emulation on a loaded host is
# many times slower than KVM).
scale=$(cat /etc/vm-test-scale 2>/dev/null || echo 1)
until_ok() { # SECONDS COMMAND...
    end=$(($(date +%s) + $1 * scale)); shift
    # Each try is bounded too: a command that hangs must fail its check, not the whole run.
    while [ "$(date +%s)" -lt "$end" ]; do
        timeout $((10 * scale)) "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
prop() { systemctl show storekeeper -p "$1" --value; }
until_ok 60 systemctl is-active --quiet storekeeper && pass "storekeeper.service active (READY=1)" ||
    { fail "not active"; systemctl status storekeeper --no-pager; journalctl -u storekeeper --no-pager | tail -20; }
pid=$(prop MainPID)
[ "$(stat -c %U /proc/$pid)" = storekeeper ] && pass "runs as storekeeper" || fail "user"
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status && pass "NoNewPrivileges" || fail "NoNewPrivs"
grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$pid/status && pass "no capabilities" || fail "CapEff"
nsenter -t "$pid" -m sh -c 'touch /usr/sk-test 2>/dev/null' && fail "/usr writable in the sandbox" ||
    pass "file system read-only in the sandbox"
until_ok 20 test -s /var/lib/storekeeper/ledger.db && pass "ledger created" || fail "ledger"
[ "$(stat -c %U /var/lib/storekeeper/ledger.db)" = storekeeper ] && pass "ledger owned by storekeeper" || fail "ledger owner"
until_ok 30 sh -c 'storekeeper diag reader r7 >/tmp/r7 2>&1' && pass "serial port in the sandbox: reader r7 on /dev/ttyS1 is up" ||
    { fail "reader r7 on /dev/ttyS1"; cat /tmp/r7; journalctl -u storekeeper --no-pager | tail -10; }
timeout $((20 * scale)) storekeeper diag status >/tmp/st 2>&1 && grep -q "via the daemon" /tmp/st && pass "control socket: diag status via the daemon" ||
    { fail "diag status"; cat /tmp/st; }
timeout $((30 * scale)) storekeeper diag all >/tmp/all 2>&1; grep -q "^PASS  reader r7" /tmp/all && pass "diag all: reader r7 PASS" || { fail "diag all"; cat /tmp/all; }
# A hung main loop: the whole process stopped. No WATCHDOG=1 comes; systemd aborts and restarts.
kill -STOP "$pid"
until_ok 40 sh -c "[ \"\$(systemctl show storekeeper -p NRestarts --value)\" -ge 1 ] && systemctl is-active --quiet storekeeper && [ \"\$(systemctl show storekeeper -p MainPID --value)\" != $pid ]" &&
    pass "watchdog: the hung daemon was killed and restarted (NRestarts $(prop NRestarts))" ||
    { fail "watchdog"; systemctl status storekeeper --no-pager; }
journalctl -u storekeeper --no-pager | grep -q "Watchdog timeout" && pass "journal: Watchdog timeout" || fail "no Watchdog timeout in the journal"
until_ok 30 sh -c 'storekeeper diag reader r7 >/dev/null 2>&1' && pass "after the restart: reader r7 up again" || fail "after restart"
# The ledger removed under the running daemon: it writes the open file back at its stop and
# exits 1; systemd starts it again on the copy.
n0=$(prop NRestarts)
rm -f /var/lib/storekeeper/ledger.db /var/lib/storekeeper/ledger.db-wal /var/lib/storekeeper/ledger.db-shm
until_ok 60 sh -c "[ -s /var/lib/storekeeper/ledger.db ] && [ \"\$(systemctl show storekeeper -p NRestarts --value)\" -gt $n0 ] && systemctl is-active --quiet storekeeper" &&
    journalctl -u storekeeper --no-pager | grep -q "was removed while the daemon had it open" &&
    pass "ledger removed under the daemon: written back, restarted on it" ||
    { fail "ledger removed"; ls -la /var/lib/storekeeper; journalctl -u storekeeper --no-pager | tail -15; }
t=$(date +%s%N)
systemctl stop storekeeper
ms=$((($(date +%s%N) - t) / 1000000))
[ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] && pass "systemctl stop: clean (exit 0) in $ms ms" ||
    fail "stop: Result $(prop Result), status $(prop ExecMainStatus)"
journalctl -u storekeeper --no-pager | tail -5 | grep -q "core: stopped" && pass "journal: core: stopped" || fail "no clean stop line"
storekeeper ledger --db /var/lib/storekeeper/ledger.db verify >/tmp/v 2>&1 && pass "ledger verify after the stop" || { fail "ledger verify"; cat /tmp/v; }
echo "VMTEST DONE"
systemctl poweroff --force --force
EOF
chmod 0755 "$root/usr/local/bin/vm-test"
cat >"$root/etc/systemd/system/vm-test.service" <<'EOF'
[Unit]
Description=storekeeper VM test
After=storekeeper.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/vm-test
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/vm-test.service "$root/etc/systemd/system/multi-user.target.wants/vm-test.service"
# A console without a getty: the test owns ttyS0.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
echo vm-edge >"$root/etc/hostname"
: >"$root/etc/machine-id"

# The root disk (ext4, made from the directory without mounting it) and a small initramfs
# that loads the disk's modules and switch_roots to systemd on it.
rm -rf "$work"
mkdir -p "$work/initramfs/bin" "$work/initramfs/mods"
mkfs.ext4 -q -F -L vmroot -d "$root" "$work/root.img" 3G
cp "$dir/vm-parts/busybox" "$work/initramfs/bin/busybox"
cp "$dir/vm-parts/mods"/*.ko "$work/initramfs/mods/"
cat >"$work/initramfs/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in /mods/*.ko; do /bin/busybox insmod "$m" 2>/dev/null; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 300 ]; do /bin/busybox sleep 0.1; n=$((n + 1)); done
/bin/busybox mount -t ext4 /dev/vda /newroot || { echo "VMTEST FAIL no root disk"; /bin/busybox poweroff -f; }
/bin/busybox umount /proc
/bin/busybox umount /dev
exec /bin/busybox switch_root /newroot /lib/systemd/systemd
EOF
chmod 0755 "$work/initramfs/init" "$work/initramfs/bin/busybox"
python3 - "$work/initramfs" "$work/initrd" <<'EOF'
import os, stat, sys
root, out = sys.argv[1], sys.argv[2]
ino = [1]
def entry(f, name, st, data=b""):
    nb = name.encode() + b"\0"
    hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
        ino[0], st.st_mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
    ino[0] += 1
    f.write(hdr.encode() + nb)
    f.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
    f.write(data)
    f.write(b"\0" * ((4 - len(data) % 4) % 4))
with open(out, "wb") as f:
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            data = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else b""
            entry(f, os.path.normpath(os.path.join(rel, n)), st, data)
    entry(f, "TRAILER!!!", os.stat(root))
EOF

# The virtual reader on the host, behind qemu's second serial port.
sock=$work/ttyS1.sock
# KVM only when asked (SK_VM_KVM=1): on a nested host /dev/kvm may open and then hang the
# guest at its first instructions, which no quick probe tells from a slow boot.
kvm=""
if [ "${SK_VM_KVM:-0}" = 1 ]; then kvm="-enable-kvm"; fi
t1=$(date +%s)
echo "=== systemd-vm-test: boot (${kvm:-software emulation})"
# shellcheck disable=SC2086
qemu-system-x86_64 $kvm -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$dir/vm-parts/vmlinuz" -initrd "$work/initrd" \
    -drive "file=$work/root.img,format=raw,if=virtio" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet systemd.show_status=0" \
    -serial "file:$work/console.log" -serial "unix:$sock,server=on,wait=off" \
    -monitor none -net none </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!
n=0
while [ ! -S "$sock" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
socat "UNIX-CONNECT:$sock" "PTY,link=$work/pty,raw,echo=0" &
socat_pid=$!
n=0
while [ ! -e "$work/pty" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
build/storekeeper sim reader --listen "rtu:$work/pty:115200:8E1" --units 7 --tags 3 \
    </dev/null >"$work/reader.log" 2>&1 &
reader_pid=$!
deadline=$(($(date +%s) + ${SK_VM_TIMEOUT:-$((600 * scale))}))
while kill -0 "$qemu_pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
    grep -q "VMTEST DONE" "$work/console.log" 2>/dev/null && break
    sleep 1
done
sleep 2
t2=$(date +%s)
grep "VMTEST" "$work/console.log" || { tail -40 "$work/console.log"; cat "$work/qemu.log"; }
# What a failed check printed after its line (systemctl status, the journal's tail).
if grep -q "VMTEST FAIL" "$work/console.log"; then
    echo "=== systemd-vm-test: the console from the first failure"
    sed -n '/VMTEST FAIL/,$p' "$work/console.log" | grep -v "VMTEST PASS" | head -80
fi
passes=$(grep -c "VMTEST PASS" "$work/console.log" || true)
fails=$(grep -c "VMTEST FAIL" "$work/console.log" || true)
done_=$(grep -c "VMTEST DONE" "$work/console.log" || true)
echo "=== systemd-vm-test: $passes passed, $fails failed; root and image $((t1 - t0)) s, VM $((t2 - t1)) s"
[ "$fails" -eq 0 ] && [ "$done_" -eq 1 ] && [ "$passes" -ge 15 ]
