#!/bin/sh
# A throwaway PostgreSQL for tests.
#   scripts/pg-throwaway.sh start DIR   prints postgres://ppod@127.0.0.1:PORT/ppod
#   scripts/pg-throwaway.sh stop DIR    stops it and removes DIR (idempotent)
# Debian's postgresql package (PostgreSQL 15 by default), run by hand: no
# systemd, no cluster of the package's own (one it made is left alone). The
# server runs as the unprivileged `postgres` user when started by root
# (initdb refuses root), keeps its data, log and unix socket in DIR, listens
# on 127.0.0.1 only on a free port, trusts loopback connections only, and
# runs with fsync off (test data). Role ppod (may create databases) owns the
# database ppod. The URL is also written to DIR/url.
set -eu

die() { echo "pg-throwaway: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
cmd=$1
dir=$2
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac

bindir=${PB_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    bindir=/usr/lib/postgresql/15/bin
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] ||
  die "no PostgreSQL server found (apt-get install postgresql, or set PB_PG_BINDIR)"

# Commands run as the server's owner: postgres when we are root.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || die "no user $owner (install the postgresql package)"
  as_owner() { (cd / && runuser -u "$owner" -- "$@"); }
else
  owner=$(id -un)
  as_owner() { (cd / && "$@"); }
fi

stop() {
  # Only ever remove a directory this script made (or an empty one).
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/data/PG_VERSION" ] && [ ! -e "$dir/initdb.log" ]; then
    die "$dir is not a throwaway PostgreSQL directory; not removing it"
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

# A port the kernel says is free now (python3 when there is one), else a
# random one; start() retries when it was taken meanwhile.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

start() {
  stop
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir"
  as_owner test -w "$dir" || die "$dir is not writable by $owner (its parents must be searchable)"
  as_owner "$bindir/initdb" -D "$dir/data" -U "$owner" --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # Loopback TCP and the socket in DIR only; nothing from elsewhere.
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir/data/pg_hba.conf"
  tries=0
  while :; do
    port=$(free_port)
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    # Another process may have taken the port between our probe and the bind.
    [ $tries -lt 10 ] && grep -q "in use" "$dir/log" 2>/dev/null || { cat "$dir/log" >&2; die "postgres did not start"; }
  done
  as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "$owner" -d postgres \
    -c "CREATE ROLE ppod LOGIN CREATEDB" -c "CREATE DATABASE ppod OWNER ppod" >/dev/null ||
    die "cannot create role and database ppod"
  url="postgres://ppod@127.0.0.1:$port/ppod"
  echo "$url" >"$dir/url"
  echo "$url"
}

case $cmd in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop DIR" ;;
esac
