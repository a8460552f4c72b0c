#!/bin/sh
# deps.sh: installs the Debian 12 packages anpr builds, runs and tests with.
# Sourced by run.sh and test.sh; asks apt only for what is missing.
set -e
ANPR_PACKAGES="build-essential cmake pkg-config libjpeg62-turbo-dev libpng-dev \
libsqlite3-dev libpq-dev libmicrohttpd-dev libjansson-dev libsodium-dev \
sqlite3 curl"
if [ "${1:-}" = "test" ]; then
    ANPR_PACKAGES="$ANPR_PACKAGES postgresql clang libclang-rt-14-dev"
fi
missing=""
for p in $ANPR_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
