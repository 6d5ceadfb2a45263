#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind (memcheck, --leak-check=full, --track-fds=yes) over every integration test that runs
# the storekeeper binary: each test as CTest would run it, with the binary under valgrind, then
# a verdict per process (memory errors, definite or indirect leaks, descriptors left open at
# exit). Long (tens of minutes on two cores): the suite runs the short form,
# tests/reliability/test_valgrind.py.
#   scripts/valgrind.sh                  every test labelled integration
#   scripts/valgrind.sh LABEL [TEST...]  another label, or just these tests
# SK_VALGRIND_TIME_SCALE (default 8) stretches the tests' waits for the slower binary.
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$(nproc)" >/dev/null
exec /usr/bin/python3 tests/reliability/valgrind_all.py build "${1:-integration}" ${1:+$(shift; echo "$@")}
