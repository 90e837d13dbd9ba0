#!/usr/bin/env bash
# Start PostgreSQL and Redis on 127.0.0.1 when they are not answering; fail loudly when they cannot be.
# The start commands are the machine's own (see docs/operations.md, "Local services").
set -uo pipefail

answers() { # host port
    python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() { # name port
    for _ in $(seq 1 60); do answers 127.0.0.1 "$2" && return 0; sleep 0.5; done
    echo "ensure-services: $1 did not come up on 127.0.0.1:$2" >&2
    exit 1
}

if ! answers 127.0.0.1 5432; then
    echo "ensure-services: starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    else
        echo "ensure-services: PostgreSQL is not answering on :5432 and pg_ctlcluster is not installed" >&2
        exit 1
    fi
    wait_for PostgreSQL 5432
fi

if ! answers 127.0.0.1 6379; then
    echo "ensure-services: starting Redis"
    if command -v redis-server >/dev/null 2>&1; then
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
    else
        echo "ensure-services: Redis is not answering on :6379 and redis-server is not installed" >&2
        exit 1
    fi
    wait_for Redis 6379
fi
echo "ensure-services: PostgreSQL and Redis answering"
