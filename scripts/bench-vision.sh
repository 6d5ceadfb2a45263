#!/bin/sh
# SPDX-License-Identifier: MIT
# The vision benchmark on an optimised build: our pipeline against the Python/OpenCV
# reference pipeline on the pedestrian clip (Debian's opencv-doc, fetched into the build
# tree) and on a synthetic clip, with ratios and the peak RSS of `run` with one camera.
#   scripts/bench-vision.sh [REPEAT]        (default 5 repetitions; about 3 minutes)
# The machine is shared: read the [min-max] spread next to each median. For numbers that do
# not depend on the neighbours, run the pipeline under callgrind (see docs/vision.md).
set -eu
cd "$(dirname "$0")/.."
repeat=${1:-5}
scripts/install-deps.sh --test
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_WERROR=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target storekeeper bench_vision >/dev/null
export SK_SOURCE_DIR="$PWD" SK_BUILD_DIR="$PWD/build-bench" SK_BIN="$PWD/build-bench/storekeeper"
# the test programs find the modules (vision-opencv.so, camera-file.so) through this
export STOREKEEPER_MODULEDIR="$PWD/build-bench/lib/storekeeper"
clip=$(cd tests/vision && /usr/bin/python3 -c 'import test_clip; print(test_clip.fetch_clip())')
/usr/bin/python3 tests/vision/bench_vision.py --bench build-bench/tests/vision/bench_vision \
    --clip "$clip" --repeat "$repeat"
