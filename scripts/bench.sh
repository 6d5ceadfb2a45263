#!/bin/sh
# SPDX-License-Identifier: MIT
# Every benchmark in one run, on an optimised build, and docs/performance.md written from what
# they print: each figure with its reference measured in the same run (rounds taking turns,
# min/median/max), the ratio and the goal; with --before REV, the same programs against the
# tree at REV too (the "before" column: the ledger's rates and instructions per movement, the
# daemon's memory, `version`'s start-up), and with --footprint the install sizes in a clean
# Debian 12 root (scripts/footprint.sh: root and the Debian archive).
#   scripts/bench.sh [--before REV] [--footprint] [--quick] [--out FILE]
# About 15 minutes (--quick: 3); the machine is shared: read the spreads. Needs the test
# packages (scripts/install-deps.sh --test).
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
src=$PWD
before=""
footprint=""
quick=""
out=docs/performance.md
while [ $# -gt 0 ]; do
    case "$1" in
    --before)
        before=${2:?--before needs a revision}
        shift
        ;;
    --footprint) footprint=1 ;;
    --quick) quick=1 ;;
    --out)
        out=${2:?--out needs a file}
        shift
        ;;
    -h | --help) script_help ;;
    *) unknown_option bench "$1" ;;
    esac
    shift
done
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
# each step notes the machine's load average (other developers share it): the report says it
step() {
    printf '\n=== bench: %s\n' "$*" >&2
    printf '%s %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >>"$log/load"
}

# build DIR SOURCE [extra cmake args]: an optimised tree with the benchmark programs
# (without OpenCV's video decoding, as the package is built: linked into the binary of a tree
# before the modules, it alone took 50 MB and hundreds of milliseconds at start)
build() {
    cmake -S "$2" -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_WERROR=OFF \
        -DSK_WITH_VIDEOIO=OFF "$3" >/dev/null
    nice cmake --build "$1" -j "$(nproc)" --target storekeeper bench_ledger >/dev/null
}

step "build (build-bench/)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_WERROR=OFF >/dev/null
nice cmake --build build-bench -j "$(nproc)" --target storekeeper sk_modules bench_ledger \
    bench_rfid bench_vision bench_latency outbox_tool >/dev/null
after=build-bench
export SK_SOURCE_DIR="$src" STOREKEEPER_MODULEDIR="$src/build-bench/lib/storekeeper"
export PYTHONDONTWRITEBYTECODE=1

beforedir=""
if [ -n "$before" ]; then
    step "build $before (build-bench-before/), with this tree's bench_ledger.c"
    beforedir=$src/build-bench-before
    rm -rf "$beforedir/src"
    mkdir -p "$beforedir"
    git worktree prune
    git worktree add --detach "$beforedir/src" "$before" >/dev/null 2>&1
    cp tests/ledger/bench_ledger.c "$beforedir/src/tests/ledger/bench_ledger.c"
    # a tree before SK_MOVE_IN_BATCH: the flag means nothing there
    if ! grep -q SK_MOVE_IN_BATCH "$beforedir/src/include/storekeeper/ledger.h"; then
        flags="-DCMAKE_C_FLAGS=-DSK_MOVE_IN_BATCH=0"
    else
        flags="-DCMAKE_C_FLAGS=" # and not an older run's cached -DSK_MOVE_IN_BATCH=0
    fi
    build "$beforedir/build" "$beforedir/src" "$flags"
fi

rounds=5
[ -n "$quick" ] && rounds=3
# ledger DIR LABEL: the rates (as the daemon writes, with the anchor file written after each
# commit and synced at most every 100 ms, and without it: the guarantees the plain inserts
# have), then the instructions per movement under callgrind
ledger() {
    for anchor in "" --no-anchor; do
        "$1/tests/ledger/bench_ledger" --rounds "$rounds" ${quick:+--quick} $anchor |
            sed "s/^BENCH {/BENCH {\"build\":\"$2\",/" | tee -a "$log/out" |
            grep -v '^BENCH' >&2
    done
    n=2000
    [ -n "$quick" ] && n=500
    for side in ledger plain; do
        fn=timed_moves
        [ "$side" = plain ] && fn=bench_plain
        valgrind --tool=callgrind --callgrind-out-file="$log/cg" --toggle-collect=$fn \
            "$1/tests/ledger/bench_ledger" --one $side --batch 100 --count $n --nosync \
            >/dev/null 2>"$log/cg.err"
        ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log/cg.err")
        eval "ir_$side=\$((ir / n))"
    done
    echo "instructions per movement (callgrind, batch 100, synchronous=OFF): ledger $ir_ledger, plain $ir_plain" >&2
    echo "BENCH {\"build\":\"$2\",\"bench\":\"ledger\",\"case\":\"instructions per movement (callgrind, batch 100)\",\"unit\":\"instructions\",\"ours\":[$ir_ledger,$ir_ledger,$ir_ledger],\"ref\":[$ir_plain,$ir_plain,$ir_plain],\"ratio\":[$(awk -v a="$ir_ledger" -v b="$ir_plain" 'BEGIN {r = a / b; printf "%.2f,%.2f,%.2f", r, r, r}')],\"ref_name\":\"plain SQLite inserts\",\"goal\":\"\",\"rounds\":1,\"lower_is_better\":true}" >>"$log/out"
}

footprint_bench() {
    # each build with its own modules (a before tree's binary refuses or misreads ours)
    STOREKEEPER_MODULEDIR=$1/lib/storekeeper SK_BIN=$1/storekeeper \
        /usr/bin/python3 tests/integration/bench_footprint.py \
        --rounds "$([ -n "$quick" ] && echo 1 || echo 3)" |
        sed "s/^BENCH {/BENCH {\"build\":\"$2\",/" | tee -a "$log/out" | grep -v '^BENCH' >&2
}

step "ledger"
ledger "$after" after
if [ -n "$beforedir" ]; then
    step "ledger at $before"
    ledger "$beforedir/build" before
fi

step "memory and start-up"
footprint_bench "$after" after
if [ -n "$beforedir" ]; then
    step "memory and start-up at $before"
    footprint_bench "$beforedir/build" before
fi

step "RFID"
build-bench/tests/rfid/bench_rfid ${quick:+--quick} | sed 's/^BENCH {/BENCH {"build":"after",/' |
    tee -a "$log/out" | grep -v '^BENCH' >&2

step "vision"
clip=""
if [ -z "$quick" ]; then
    clip=$(cd tests/vision && SK_BUILD_DIR="$src/build" /usr/bin/python3 -c \
        'import test_clip; print(test_clip.fetch_clip())' 2>/dev/null || true)
fi
SK_BIN=$src/build-bench/storekeeper SK_BUILD_DIR=$src/build-bench /usr/bin/python3 \
    tests/vision/bench_vision.py --bench build-bench/tests/vision/bench_vision \
    --repeat "$rounds" ${clip:+--clip "$clip"} $([ -n "$quick" ] && echo "--frames 200") |
    sed 's/^BENCH {/BENCH {"build":"after",/' | tee -a "$log/out" | grep -v '^BENCH' >&2

step "MQTT"
events=20000
[ -n "$quick" ] && events=3000
SK_BIN=$src/build-bench/storekeeper SK_BUILD_DIR=$src/build-bench /usr/bin/python3 \
    tests/mqtt/bench_mqtt.py --events $events --latency-events 1000 --rounds "$rounds" |
    sed 's/^BENCH {/BENCH {"build":"after",/' | tee -a "$log/out" | grep -v '^BENCH' >&2

fp=""
if [ -n "$footprint" ]; then
    step "install footprint (scripts/package.sh, scripts/footprint.sh)"
    scripts/package.sh >/dev/null
    beforedeb=""
    if [ -n "$beforedir" ]; then
        cmake -S "$beforedir/src" -B "$beforedir/pkg" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DSK_WERROR=OFF -DSK_BUILD_TESTS=OFF -DSK_WITH_VIDEOIO=OFF \
            -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
        nice cmake --build "$beforedir/pkg" -j "$(nproc)" >/dev/null
        (cd "$beforedir/pkg" && rm -f ./*.deb && cpack -G DEB >/dev/null)
        beforedeb=$(ls "$beforedir"/pkg/storekeeper_*.deb)
    fi
    fp=$log/footprint.md
    scripts/footprint.sh --markdown ${beforedeb:+--before "$beforedeb"} >"$fp"
fi

step "writing $out"
/usr/bin/python3 scripts/bench-report.py --bench-lines "$log/out" --load "$log/load" \
    ${fp:+--footprint "$fp"} --before-rev "${before:-}" \
    --rev "$(git describe --always --dirty)" >"$out"
# the raw lines stay beside the build (not in git): bench-report.py can write the page again
cp "$log/out" build-bench/bench-lines.txt
echo "bench: wrote $out (its figures: build-bench/bench-lines.txt)" >&2
if [ -n "$beforedir" ]; then
    git worktree remove --force "$beforedir/src" 2>/dev/null || true
fi
