#!/usr/bin/env bash
# Start throwaway Redis and PostgreSQL servers for the tests (Debian's packages), and print
# the environment that points the tests at them. Idempotent: running servers are reused.
set -euo pipefail
state=${BURNDOWN_SERVICES_DIR:-/tmp/burndown-services}
redis_port=${BURNDOWN_TEST_REDIS_PORT:-56379}
pg_port=${BURNDOWN_TEST_PG_PORT:-55432}
mkdir -p "$state"

if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --logfile "$state/redis.log" --dir "$state"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -p "$redis_port" ping >/dev/null

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdata="$state/pg"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! "$pgbin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q; then
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    mkdir -p "$pgdata"; [ "$(id -u)" = 0 ] && chown postgres: "$pgdata" "$state"
    run_pg "$pgbin/initdb" -D "$pgdata" -U burndown --auth=trust >/dev/null
  fi
  run_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$state/pg.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $state -c fsync=off" start >/dev/null
fi
"$pgbin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q

echo "export BURNDOWN_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0"
echo "export BURNDOWN_TEST_POSTGRES_URL=postgresql+psycopg://burndown@127.0.0.1:$pg_port/postgres"
