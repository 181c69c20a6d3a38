#!/usr/bin/env bash
# Container entry point: wait for the database, then run one process type.
#
#   entrypoint.sh web      gunicorn + uvicorn workers on config.asgi (HTTP + WebSocket)
#   entrypoint.sh worker   Celery worker (acks late: a killed worker's task is redelivered)
#   entrypoint.sh beat     Celery beat (run exactly one)
#   entrypoint.sh migrate  tenants migrate (one runner at a time: pg advisory lock)
#   entrypoint.sh manage … any manage.py command
#
# RUN_MIGRATIONS=1 makes web/worker migrate before starting (compose / single
# host); on Kubernetes the migration Job does it and pods leave it unset.
set -euo pipefail
cd "$(dirname "$0")/.."

wait_for_database() {
  local timeout="${DB_WAIT_SECONDS:-60}"
  python - "$timeout" <<'PY'
import os, sys, time
import psycopg
deadline = time.monotonic() + float(sys.argv[1])
url = os.environ["DATABASE_URL"]
while True:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        break
    except psycopg.OperationalError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"database not reachable: {exc}")
        print("waiting for the database…", flush=True)
        time.sleep(1)
PY
}

migrate() {
  # Safe with several runners: `tenants migrate` holds a PostgreSQL advisory
  # lock; a second runner waits, then finds nothing to do.
  python manage.py tenants migrate --parallel "${MIGRATE_PARALLEL:-2}"
}

use_persistent_connections() {
  # Celery's processes run tasks on long-lived threads: persistent connections
  # work there (the web process, ASGI, pools instead: config/settings/production.py).
  if [ "${NOVATIME_DB_POOL_MODE:-django}" = "django" ]; then
    export NOVATIME_DB_POOL_MODE=direct
  fi
  export DB_CONN_MAX_AGE="${WORKER_DB_CONN_MAX_AGE:-60}"
}

process="${1:-web}"
shift || true
wait_for_database
# Refuse to start behind a pooler that loses session state (PgBouncer in
# transaction mode would mix tenants' search_path): config/pooling.py.
if [ "${NOVATIME_DB_POOL_CHECK:-1}" = "1" ] && [ "$process" != "manage" ]; then
  python -m config.pooling
fi
if [ "${RUN_MIGRATIONS:-0}" = "1" ] && [ "$process" != "migrate" ]; then
  migrate
fi

case "$process" in
  web)
    # Prometheus multiprocess mode: one directory per pod, emptied at start.
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
      rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    fi
    exec gunicorn config.asgi:application -c deploy/gunicorn.conf.py "$@"
    ;;
  worker)
    use_persistent_connections
    exec celery -A config worker --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_CONCURRENCY:-2}" --without-mingle "$@"
    ;;
  beat)
    use_persistent_connections
    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    migrate
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    echo "unknown process type: $process (web|worker|beat|migrate|manage)" >&2
    exit 64
    ;;
esac
