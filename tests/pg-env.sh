#!/bin/sh
# tests/pg-env.sh DIR COMMAND...: runs COMMAND with PB_TEST_PG_URL set to the
# throwaway PostgreSQL that `scripts/pg-throwaway.sh start DIR` started.
dir=$1
shift
PB_TEST_PG_URL=$(cat "$dir/url") || { echo "pg-env: no PostgreSQL in $dir (pg/start failed?)" >&2; exit 1; }
export PB_TEST_PG_URL
exec "$@"
