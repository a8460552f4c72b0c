#!/bin/sh
# run.sh: set up on a fresh Debian 12 machine, build, and run the main job:
# read the plates in the bundled samples, then start the back office on its
# embedded SQLite store (Ctrl-C stops it).
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target anpr
echo "== anpr read samples/plate-*  (single plate crops)"
./build/anpr read --whole-plate samples/plate-*
echo "== anpr read samples/street-*  (whole photos)"
./build/anpr read samples/street-*
echo "== anpr serve  (back office on ./anpr.db; Ctrl-C to stop)"
exec ./build/anpr serve
