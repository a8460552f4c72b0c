#!/bin/sh
# read.sh: accuracy and speed of reading on the shared plate data.
#
#   sh bench/read.sh [BUILD_DIR]
#
# Needs ../shared/data beside the repository and Debian's python3-pil to
# render the fixed-seed synthetic GB test set. Prints, for plate crops read
# with --whole-plate (held-out real crops, photos-dev plates cut by their
# boxes, synthetic GB plates) and for whole photos-dev photos: exact-match
# top-1 and top-N per set, found plates, median milliseconds, peak memory.
set -e
cd "$(dirname "$0")/.."
build=${1:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target read_bench >/dev/null
data=$(/usr/bin/python3 train/make_testset.py "$build/bench-data")
echo "== plate crops (--whole-plate), one thread"
"$build/bench/read_bench" --whole-plate "$data/crops.csv" "$data/photos-dev.csv" "$data/gb-synth.csv"
echo
echo "== whole photos (detect + read), photos-dev, one thread"
"$build/bench/read_bench" "$data/photos-dev.csv"
