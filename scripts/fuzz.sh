#!/bin/sh
# SPDX-License-Identifier: MIT
# libFuzzer runs of the fuzz targets in tests/fuzz (clang, ASan+UBSan; the `fuzz` preset).
#
#   scripts/fuzz.sh TARGET SECONDS   fuzz one target (config, profile, command, modbus, scene,
#                                    csv, credentials, scenario, record, ledger) for SECONDS;
#                                    the long-run form
#   scripts/fuzz.sh all SECONDS      every target for SECONDS each, two at a time
#   scripts/fuzz.sh --ci             what scripts/test.sh runs: build, replay every committed
#                                    corpus, then every target for $SK_FUZZ_SECONDS (10) each
#   scripts/fuzz.sh --replay         replay the committed corpora only
#   scripts/fuzz.sh --seeds          rewrite the seeds and dictionaries from the project's data
#   scripts/fuzz.sh --list           the targets
#
# New inputs go to build-fuzz/corpus/TARGET (the committed seeds in tests/fuzz/corpus/TARGET
# are read, never written); crashes to build-fuzz/artifacts/TARGET/. When a run finds one,
# fix the code, then copy the input to tests/fuzz/corpus/TARGET/regress-WHAT so every build
# replays it from then on, and note it in docs/security.md. To minimise a long run's corpus
# into the committed one: build-fuzz/fuzz/fuzz_TARGET -merge=1 tests/fuzz/corpus/TARGET
# build-fuzz/corpus/TARGET (review what it adds: keep it small).
# Environment: SK_FUZZ_SECONDS (--ci), SK_FUZZ_JOBS (parallel targets, default 2),
# SK_FUZZ_FLAGS (extra libFuzzer flags, e.g. "-max_len=65536" or "-seed=42").
set -eu
cd "$(dirname "$0")/.."
targets="config profile command modbus scene csv credentials scenario record ledger"
bin=build-fuzz/fuzz
# Leaks inside libconfig 1.5 on a syntax error, each explained in the file.
LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
jobs=${SK_FUZZ_JOBS:-2}

usage() {
    sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

build() {
    command -v clang >/dev/null || { echo "fuzz: clang is missing (apt-get install clang)" >&2; exit 1; }
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz -j "$(nproc)" >build-fuzz/build.log 2>&1 || {
        tail -40 build-fuzz/build.log; echo "fuzz: build failed (build-fuzz/build.log)" >&2; exit 1; }
}

replay() {
    ctest --preset fuzz -j "$(nproc)" -L fuzz
}

# run TARGET SECONDS: one libFuzzer run; prints "TARGET: N executions in S s" on success.
run() {
    t=$1 secs=$2
    mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t"
    log="build-fuzz/fuzz-$t.log"
    # shellcheck disable=SC2086
    if "$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -dict="tests/fuzz/dict/$t.dict" \
            -artifact_prefix="build-fuzz/artifacts/$t/" ${SK_FUZZ_FLAGS:-} \
            "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "$t: ${execs:-?} executions in $secs s, ${cov:-cov: ?}, corpus $(ls "build-fuzz/corpus/$t" | wc -l) new input(s)"
    else
        echo "$t: FAILED, see $log" >&2
        grep -E '^==[0-9]+==ERROR|SUMMARY|Test unit written to|^artifact_prefix|deadly signal' "$log" >&2 || tail -30 "$log" >&2
        return 1
    fi
}

# run_all SECONDS: every target, $jobs at a time.
run_all() {
    secs=$1 failed=0 pids="" n=0
    for t in $targets; do
        run "$t" "$secs" &
        pids="$pids $!"
        n=$((n + 1))
        if [ "$n" -ge "$jobs" ]; then
            for p in $pids; do wait "$p" || failed=1; done
            pids="" n=0
        fi
    done
    for p in $pids; do wait "$p" || failed=1; done
    return $failed
}

[ $# -ge 1 ] || usage
case $1 in
--list) echo "$targets" | tr ' ' '\n' ;;
--seeds)
    /usr/bin/python3 tests/fuzz/make_corpus.py
    [ -x build/fuzz/modbus_seeds ] || { cmake --preset dev >/dev/null && cmake --build --preset dev --target modbus_seeds -j "$(nproc)"; }
    build/fuzz/modbus_seeds tests/fuzz/corpus/modbus ;;
--replay) build; replay ;;
--ci)
    # Seeds that lag behind the examples are still good seeds: say so, do not fail.
    /usr/bin/python3 tests/fuzz/make_corpus.py --check >/dev/null ||
        echo "fuzz: note: seeds or dictionaries lag behind the sources (scripts/fuzz.sh --seeds)"
    build
    replay
    run_all "${SK_FUZZ_SECONDS:-10}" ;;
all) [ $# -eq 2 ] || usage; build; run_all "$2" ;;
-h|--help) usage ;;
*)
    [ $# -eq 2 ] || usage
    case " $targets " in *" $1 "*) ;; *) echo "fuzz: no target $1 (scripts/fuzz.sh --list)" >&2; exit 2 ;; esac
    build
    run "$1" "$2" ;;
esac
