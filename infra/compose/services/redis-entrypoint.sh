#!/bin/sh
# Redis as Celery's broker: append-only file (a restart keeps queued and unacknowledged tasks),
# noeviction (a full Redis refuses writes instead of dropping tasks), a password from the env.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set (see infra/compose/env.example)}"
conf=$(mktemp /tmp/redis.XXXXXX.conf)
chmod 0600 "$conf"
cat >"$conf" <<CONF
bind 0.0.0.0 ::
port 6379
protected-mode no
dir /var/lib/redis
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
save ""
requirepass $REDIS_PASSWORD
CONF
exec redis-server "$conf"
