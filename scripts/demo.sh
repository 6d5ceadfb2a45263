#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: builds storekeeper and runs it on the simulated store (examples/demo-store.cfg,
# board `sim`) for a minute, or until Ctrl-C.  scripts/demo.sh [SECONDS]
#
# The store's shelf readers are virtual: one Modbus/TCP server for units 1-2 on port 15020
# and one RTU server on a socat pty pair linked at /tmp/storekeeper-demo-pty (units 1-2),
# each shelf stocked with a few tagged items. Midway a shopper takes an item from shelf A1
# and puts it back later. Everything the demo starts is stopped on exit or Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
duration=${1:-60}
demo=/tmp/storekeeper-demo
mkdir -p "$demo"
bin=build/storekeeper

pids=""
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        wait "$p" 2>/dev/null || true
    done
    rm -f /tmp/storekeeper-demo-pty "$demo/sim-rtu-end" "$demo"/*.sock
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "demo: starting the virtual shelf readers"
socat pty,raw,echo=0,link=/tmp/storekeeper-demo-pty pty,raw,echo=0,link="$demo/sim-rtu-end" &
pids="$pids $!"
i=0
while [ ! -e /tmp/storekeeper-demo-pty ] || [ ! -e "$demo/sim-rtu-end" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "demo: socat made no pty pair" >&2; exit 1; }
    sleep 0.05
done
"$bin" sim reader --listen tcp:127.0.0.1:15020 --units 1-2 --tags 4 \
    --control "$demo/sim-tcp.sock" </dev/null >"$demo/sim-tcp.log" 2>&1 &
pids="$pids $!"
"$bin" sim reader --listen "rtu:$demo/sim-rtu-end:115200:8E1" --units 1-2 --tags 3 \
    --control "$demo/sim-rtu.sock" </dev/null >"$demo/sim-rtu.log" 2>&1 &
pids="$pids $!"
sleep 0.5

# a shopper takes the second item of shelf A1 (unit 1 on the TCP bus) and later puts it back
item=$(printf '3034257BF400190000000002')
(
    sleep $((duration / 3))
    echo "demo: a shopper takes $item from shelf A1"
    echo "tag del 1 * $item" | socat - "UNIX-CONNECT:$demo/sim-tcp.sock" >/dev/null
    sleep $((duration / 3))
    echo "demo: ... and puts it back"
    echo "tag add 1 1 $item -57" | socat - "UNIX-CONNECT:$demo/sim-tcp.sock" >/dev/null
) &
pids="$pids $!"

echo "demo: checking the store configuration"
"$bin" run -c examples/demo-store.cfg --check-config
echo "demo: running storekeeper for ${duration} s (Ctrl-C stops it cleanly)"
"$bin" run -c examples/demo-store.cfg --duration "$duration"
