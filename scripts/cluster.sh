#!/usr/bin/env bash
# `make cluster`: a throwaway PostgreSQL, three ppod-browserd nodes sharing it
# and HAProxy in front, all on loopback, in the foreground. Prints the URL and
# a token, then waits; Ctrl-C (or SIGTERM) drains the nodes and stops
# everything, and removes the temp dir unless PPOD_CLUSTER_KEEP=1.
#
# Environment (defaults):
#   BUILD (build)                    where ppod-browserd is
#   PPOD_LB_PORT (8080)              HAProxy's port on 127.0.0.1
#   PPOD_NODE_PORTS ("8081 8082 8083") the nodes' ports, one node per port
#   PPOD_CLUSTER_BROWSERS (1)        --browsers of each node
#   PPOD_CLUSTER_ACCOUNT (demo)      the account created, with its token
#   PPOD_CLUSTER_DIR (a new temp dir) PostgreSQL's data, nodes' data dirs,
#                                    the cluster key, the shared contexts dir,
#                                    the logs (node1.log ... haproxy.log)
# Extra arguments are given to every node (e.g. --allow-private HOST).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/${BUILD:-build}/ppod-browserd
LB_PORT=${PPOD_LB_PORT:-8080}
read -r -a PORTS <<<"${PPOD_NODE_PORTS:-8081 8082 8083}"
BROWSERS=${PPOD_CLUSTER_BROWSERS:-1}
ACCOUNT=${PPOD_CLUSTER_ACCOUNT:-demo}

die() { echo "cluster: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN not found (make build)"
command -v haproxy >/dev/null || die "haproxy not installed (make deps)"
command -v curl >/dev/null || die "curl not installed (make deps)"
((${#PORTS[@]} >= 1 && ${#PORTS[@]} <= 9)) || die "PPOD_NODE_PORTS: 1 to 9 ports"

if [ -n "${PPOD_CLUSTER_DIR:-}" ]; then
  DIR=$PPOD_CLUSTER_DIR
  mkdir -p "$DIR"
else
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/ppod-cluster.XXXXXX")
fi
# PostgreSQL runs as the unprivileged postgres user: it must reach DIR/pg.
chmod 0755 "$DIR"

NODE_PIDS=()
LB_PID=""
PG_UP=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "cluster: stopping" >&2
  [ -n "$LB_PID" ] && kill -TERM "$LB_PID" 2>/dev/null || true
  # SIGTERM drains a node (no new sessions, quick actions finish, it
  # deregisters); give them 30 s, then SIGKILL what is left.
  local p
  for p in "${NODE_PIDS[@]+"${NODE_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  local end=$((SECONDS + 30))
  for p in "${NODE_PIDS[@]+"${NODE_PIDS[@]}"}" $LB_PID; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if ((PG_UP)); then scripts/pg-throwaway.sh stop "$DIR/pg" >/dev/null 2>&1 || true; fi
  if [ "${PPOD_CLUSTER_KEEP:-0}" = 1 ]; then
    echo "cluster: kept $DIR" >&2
  else
    rm -rf "$DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls URL until it answers 200, at most $2 seconds; $3: pid that must live.
wait_http() {
  local url=$1 secs=$2 pid=${3:-} end=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

echo "cluster: PostgreSQL in $DIR/pg" >&2
mkdir -p "$DIR/pg"
STORE=$(scripts/pg-throwaway.sh start "$DIR/pg")
PG_UP=1
case $STORE in postgres://* | postgresql://*) ;; *) die "pg-throwaway.sh printed \"$STORE\"" ;; esac

# The cluster key: 48 random bytes, base64 (64 characters), mode 0600.
(umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$DIR/cluster.key")

mkdir -p "$DIR/contexts"
TOKEN=$("$BIN" account create "$ACCOUNT" --store "$STORE" 2>"$DIR/admin.log") ||
  { cat "$DIR/admin.log" >&2; die "account create failed"; }

i=0
for port in "${PORTS[@]}"; do
  i=$((i + 1))
  mkdir -p "$DIR/node$i"
  "$BIN" --listen "127.0.0.1:$port" --data-dir "$DIR/node$i" --store "$STORE" \
    --node-url "http://127.0.0.1:$port" --node-name "node$i" \
    --cluster-key-file "$DIR/cluster.key" --contexts-dir "$DIR/contexts" \
    --trusted-proxy 127.0.0.1 --browsers "$BROWSERS" "$@" >"$DIR/node$i.log" 2>&1 &
  NODE_PIDS+=($!)
done
i=0
for port in "${PORTS[@]}"; do
  i=$((i + 1))
  wait_http "http://127.0.0.1:$port/healthz" 60 "${NODE_PIDS[$((i - 1))]}" ||
    { tail -n 30 "$DIR/node$i.log" >&2; die "node$i (port $port) did not start"; }
done

# HAProxy: the committed config, its addresses from the environment.
LB_ENV=(PPOD_LB_BIND="127.0.0.1:$LB_PORT")
i=0
for port in "${PORTS[@]}"; do
  i=$((i + 1))
  LB_ENV+=("PPOD_NODE$i=127.0.0.1:$port")
done
CFG=deploy/haproxy.cfg
if ((${#PORTS[@]} != 3)); then
  # Another number of nodes: the same config with that many server lines.
  CFG=$DIR/haproxy.cfg
  grep -v '^  server node' deploy/haproxy.cfg >"$CFG"
  for ((i = 1; i <= ${#PORTS[@]}; i++)); do echo "  server node$i \"\${PPOD_NODE$i}\"" >>"$CFG"; done
fi
env "${LB_ENV[@]}" haproxy -f "$CFG" -db >"$DIR/haproxy.log" 2>&1 &
LB_PID=$!
wait_http "http://127.0.0.1:$LB_PORT/healthz" 20 "$LB_PID" ||
  { tail -n 30 "$DIR/haproxy.log" >&2; die "haproxy did not start"; }

cat <<MSG
ppod cluster: ${#PORTS[@]} nodes on ports ${PORTS[*]}, PostgreSQL at $STORE
URL:   http://127.0.0.1:$LB_PORT
token: $TOKEN   (account $ACCOUNT)
try:   PAPERPOD_URL=http://127.0.0.1:$LB_PORT PAPERPOD_TOKEN=$TOKEN build/ppod browser:screenshot https://example.com -o shot.png
logs:  $DIR/node*.log $DIR/haproxy.log
Ctrl-C stops everything.
MSG

# Until Ctrl-C, or until a part dies (then everything stops).
set +e
wait -n "${NODE_PIDS[@]}" "$LB_PID"
echo "cluster: a process exited (see $DIR/*.log); stopping the rest" >&2
exit 1
