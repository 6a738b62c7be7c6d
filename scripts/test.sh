#!/usr/bin/env bash
# `make test`: install what the suite needs, start a throw-away PostgreSQL and
# Redis on free local ports in a temp dir, run the whole suite on PostgreSQL and
# again on SQLite, print both summaries, stop them, and exit non-zero if either
# run fails. Extra arguments go to pytest (both runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

need_apt=()
find_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}
find_pg_bin >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x "${PODHUB_CHROMIUM:-/usr/bin/chromium}" ] || need_apt+=(chromium)
# Pillow's wheels bundle raqm but load FriBiDi from the system (RTL print files).
[ -n "$(ldconfig -p 2>/dev/null | grep libfribidi.so.0 || true)" ] || need_apt+=(libfribidi0)
[ ${#need_apt[@]} -eq 0 ] || scripts/apt_install.sh "${need_apt[@]}"
PG_BIN=$(find_pg_bin)

scripts/bootstrap.sh

TMP=$(mktemp -d /tmp/podhub-test.XXXXXX)
chmod 755 "$TMP"
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PG_PORT=$(free_port)
REDIS_PORT=$(free_port)

# PostgreSQL refuses to run as root: use the postgres system user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$TMP" postgres
  mkdir -p "$TMP/pg" && chown postgres "$TMP/pg"
fi

cleanup() {
  set +e
  as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -m immediate stop >/dev/null 2>&1
  [ -f "$TMP/redis.pid" ] && kill "$(cat "$TMP/redis.pid")" 2>/dev/null
  rm -rf "$TMP" 2>/dev/null || { sleep 1; rm -rf "$TMP" 2>/dev/null; }
  return 0
}
trap cleanup EXIT INT TERM

as_pg "$PG_BIN/initdb" -D "$TMP/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1 \
  || { cat "$TMP/initdb.log"; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 start \
  -o "-p $PG_PORT -k $TMP/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
  || { cat "$TMP/pg/server.log"; exit 1; }
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --pidfile "$TMP/redis.pid" --dir "$TMP" --logfile "$TMP/redis.log"
for _ in $(seq 50); do
  .venv/bin/python -c "import redis,sys; redis.Redis(port=$REDIS_PORT).ping()" 2>/dev/null && break
  .venv/bin/python -c 'import time; time.sleep(0.1)'
done

export DJANGO_SETTINGS_MODULE=podhub.settings.test
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/podhub"
export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CACHE_URL="rediscache://127.0.0.1:$REDIS_PORT/1"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/2"
export PODHUB_ENCRYPTION_KEYS=$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export SECRET_KEY="test-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')"
export PODHUB_CHROMIUM="${PODHUB_CHROMIUM:-/usr/bin/chromium}"
export DJANGO_ALLOW_ASYNC_UNSAFE=true  # Playwright's sync API runs an event loop in the test thread
export PODHUB_ARTIFACTS="${PODHUB_ARTIFACTS:-$ROOT/test-artifacts}"
mkdir -p "$PODHUB_ARTIFACTS"

# The whole suite twice: on PostgreSQL (production), then on SQLite (the embedded
# default of `make run`: a WAL file per xdist worker under $TMP, same options).
# TEST_DATABASES="postgresql" (or "sqlite") runs one of them only.
PG_URL="$DATABASE_URL"
summaries=()
status=0
for db in ${TEST_DATABASES:-postgresql sqlite}; do
  case "$db" in
    postgresql) label=PostgreSQL; url="$PG_URL"; var="$TMP/var" ;;
    sqlite) label=SQLite; var="$TMP/var-sqlite"; url="sqlite:///$var/podhub.sqlite3" ;;
    *) echo "make test: unknown database '$db' in TEST_DATABASES" >&2; exit 2 ;;
  esac
  echo "=== make test: the suite on $label ==="
  mkdir -p "$var"
  set +e
  DATABASE_URL="$url" PODHUB_VAR_DIR="$var" .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" \
    "$@" 2>&1 | tee "$TMP/pytest-$db.log"
  rc=${PIPESTATUS[0]}
  set -e
  # pytest's last line ("== 1200 passed, 3 skipped in 200s ==") and our skip count
  line=$(grep -E ' in [0-9.]+s( \([0-9:]+\))?( =+)?$' "$TMP/pytest-$db.log" | tail -1 \
    | sed -E 's/^=+ //; s/ =+$//')
  skipped=$(grep -E '^skipped on SQLite: ' "$TMP/pytest-$db.log" | tail -1 || true)
  summaries+=("$(printf '%-11s %s%s' "$label:" "${line:-no summary (exit $rc)}" "${skipped:+ — $skipped}")")
  [ "$rc" -eq 0 ] || status=1
done
echo "=== make test summary ==="
printf '  %s\n' "${summaries[@]}"
exit $status
