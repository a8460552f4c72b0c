#!/bin/bash
# with_postgres.sh: run one command against a private, throw-away PostgreSQL
# server on loopback, so the store's tests talk to a real database.
#
#   tests/serve/with_postgres.sh COMMAND [ARGS...]
#
# It makes a fresh cluster in a temporary folder, starts it on 127.0.0.1 at a
# free port with fsync on (durability tests must mean something), creates the
# database anpr_test and runs COMMAND with
#   ANPR_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/anpr_test
# in its environment. Whatever happens (failure, Ctrl-C, a CTest timeout) the
# server is stopped and its folder removed. The exit status is COMMAND's.
# initdb refuses to run as root, so under root the server runs as the
# postgres user. PG_BIN overrides where the server programs live;
# ANPR_PG_OPTS adds server settings (e.g. "-c shared_buffers=1GB" for
# benchmarks).
set -u

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
    for v in 17 16 15; do
        if [ -x /usr/lib/postgresql/$v/bin/initdb ]; then
            PG_BIN=/usr/lib/postgresql/$v/bin
            break
        fi
    done
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "with_postgres: no PostgreSQL server found (apt-get install postgresql-15)" >&2
    exit 2
fi

# Server programs run as postgres under root, as ourselves otherwise.
if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/anpr-pg.XXXXXX") || exit 2
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
DATA=$DIR/data
child=
started=

cleanup() {
    status=$?
    trap - EXIT INT TERM HUP
    if [ -n "$child" ]; then
        # The command's whole process group: servers a test started too.
        kill -TERM -- -"$child" 2>/dev/null
        wait "$child" 2>/dev/null
    fi
    if [ -n "$started" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$DIR"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --no-sync: a throw-away cluster need not survive a power cut before it
# starts (seconds saved per test); the server itself runs with fsync on.
if ! as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync \
        --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1; then
    echo "with_postgres: initdb failed:" >&2
    cat "$DIR/initdb.log" >&2
    exit 2
fi

# Another server may hold a port we pick, so try a few.
for try in 1 2 3 4 5 6 7 8; do
    PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    # shellcheck disable=SC2086
    if as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
            -o "-k $DIR -c listen_addresses=127.0.0.1 -p $PORT -c fsync=on ${ANPR_PG_OPTS:-}" \
            start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ -z "$started" ]; then
    echo "with_postgres: the server would not start:" >&2
    tail -n 20 "$DIR/server.log" >&2
    exit 2
fi

if ! as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres anpr_test \
        >"$DIR/createdb.log" 2>&1; then
    echo "with_postgres: createdb failed:" >&2
    cat "$DIR/createdb.log" >&2
    exit 2
fi

export ANPR_TEST_PG_URL="postgres://postgres@127.0.0.1:$PORT/anpr_test"
export ANPR_TEST_PG_BIN="$PG_BIN"

# In the background so a signal reaches our trap at once rather than after
# the command ends; in a process group of its own (set -m) so cleanup can
# stop everything it started.
set -m
"$@" &
child=$!
set +m
wait "$child"
status=$?
child=
exit $status
