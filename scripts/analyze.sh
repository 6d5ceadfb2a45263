#!/bin/sh
# SPDX-License-Identifier: MIT
# Static analysis: clang-tidy (.clang-tidy) and cppcheck (.cppcheck-suppressions) over the
# sources of firmware/, drivers/, vision/ and sim/, every finding an error. A step of
# scripts/test.sh (about 1.5 minutes on two cores).
#   scripts/analyze.sh               both analysers, every source
#   scripts/analyze.sh FILE...       both, on these files only (the quick check while editing)
#   SK_ANALYZE=tidy|cppcheck         only one of them
# Needs build/compile_commands.json (cmake --preset dev; the script configures it if missing).
# Tests are not analysed: cmocka's macros and deliberate misuse in them are noise.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc)
what=${SK_ANALYZE:-all}
[ -f build/compile_commands.json ] || cmake --preset dev >/dev/null

if [ $# -gt 0 ]; then
    files="$*"
else
    files=$(git ls-files 'firmware/*.c' 'drivers/*.c' 'drivers/*.cpp' 'vision/*.c' 'vision/*.cpp' 'sim/*.c')
fi
failed=0

if [ "$what" != cppcheck ]; then
    command -v clang-tidy >/dev/null || { echo "analyze: clang-tidy is missing (apt-get install clang-tidy)" >&2; exit 1; }
    out=$(mktemp)
    # shellcheck disable=SC2086
    printf '%s\n' $files | xargs -P "$jobs" -n 4 clang-tidy -p build --quiet >"$out" 2>/dev/null || true
    if grep -q -E '(warning|error):' "$out"; then
        grep -E '(warning|error|note):' "$out" | sed "s#^$PWD/##" >&2
        echo "analyze: clang-tidy found $(grep -c -E '(warning|error):' "$out") problem(s)" >&2
        failed=1
    else
        echo "analyze: clang-tidy clean ($(printf '%s\n' $files | wc -l) files)"
    fi
    rm -f "$out"
fi

if [ "$what" != tidy ]; then
    command -v cppcheck >/dev/null || { echo "analyze: cppcheck is missing (apt-get install cppcheck)" >&2; exit 1; }
    filter=""
    if [ $# -gt 0 ]; then
        for f in "$@"; do filter="$filter --file-filter=*$f"; done
    fi
    out=$(mktemp)
    # shellcheck disable=SC2086
    if cppcheck --project=build/compile_commands.json -j "$jobs" -i tests $filter \
            --enable=warning,portability,performance --inline-suppr \
            --suppressions-list=.cppcheck-suppressions --error-exitcode=1 --quiet \
            --template='{file}:{line}: {severity}: {id}: {message}' >"$out" 2>&1; then
        echo "analyze: cppcheck clean"
    else
        sed "s#^$PWD/##" "$out" >&2
        echo "analyze: cppcheck found problems" >&2
        failed=1
    fi
    rm -f "$out"
fi
exit $failed
