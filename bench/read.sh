#!/bin/sh
# read.sh: accuracy and speed of reading on the shared plate data.
#
#   sh bench/read.sh [BUILD_DIR]
#
# Needs ../shared/data beside the repository and Debian's python3-pil to
# render the fixed-seed synthetic GB test set. Prints, for plate crops read
# with --whole-plate (held-out real crops, photos-dev plates cut by their
# boxes, synthetic GB plates; and the two-line ones cut close) and for
# whole photos (all of photos-dev, its
# 1280x720 ones, those scaled to 1920x1080, all of them turned or slanted
# 10 to 25 degrees about their plate, and synthetic GB plates and the
# hand-read European crops pasted into 1280x720 frames, as no labelled UK or
# European photos are to hand): exact-match top-1, top-5 and top-N per
# set, found plates, median milliseconds on one thread, throughput on two,
# peak memory.
set -e
cd "$(dirname "$0")/.."
build=${1:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target read_bench >/dev/null
data=$(/usr/bin/python3 train/make_testset.py "$build/bench-data")
echo "== plate crops (--whole-plate), one thread"
"$build/bench/read_bench" --whole-plate "$data/crops.csv" "$data/photos-dev.csv" "$data/gb-synth.csv"
echo
echo "== two-line crops cut close (--whole-plate), one thread"
"$build/bench/read_bench" --whole-plate "$data/two-line-cuts.csv"
echo
for list in photos-dev photos-1280x720 photos-1920x1080 photos-tilted gb-scenes eu-scenes; do
    echo
    echo "== whole photos (decode + detect + read): $list"
    "$build/bench/read_bench" --threads 2 "$data/$list.csv"
done
