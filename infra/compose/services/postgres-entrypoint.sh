#!/bin/sh
# PostgreSQL 15 for the store: creates the cluster and the database on first start, password
# authentication over TCP, then runs in the foreground. Runs as the `postgres` user.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (see infra/compose/env.example)}"
user=${POSTGRES_USER:-burndown}
db=${POSTGRES_DB:-burndown}
bin=/usr/lib/postgresql/15/bin
data=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$data/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bin/initdb" -D "$data" -U "$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$data/pg_hba.conf"
  echo "CREATE DATABASE \"$db\" OWNER \"$user\";" \
    | "$bin/postgres" --single -D "$data" -j postgres >/dev/null
fi
exec "$bin/postgres" -D "$data" -c listen_addresses='*' \
  -c unix_socket_directories=/run/postgresql
