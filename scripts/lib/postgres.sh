# A throw-away PostgreSQL server for tests and benchmarks: pg_start exports DATABASE_URL, pg_stop removes it all.
# Source scripts/lib/common.sh first. pg_start installs Debian's postgresql package when it is missing (root).
# shellcheck shell=bash

PG_DIR=""
PG_BIN=""

_pg_as_owner() {
  # initdb and postgres refuse to run as root: run them as the postgres system user then.
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  need_debian_package "/usr/lib/postgresql/*/bin/initdb" postgresql "PostgreSQL" || return 1
  PG_BIN=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)")
  PG_DIR=$(mktemp -d /tmp/jobbergate-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  is_root && chown postgres: "$PG_DIR"
  local port
  port=$(free_port)
  _pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; pg_stop; return 1; }
  _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; pg_stop; return 1; }
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres jobbergate || { pg_stop; return 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/jobbergate"
  log "throw-away PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
}
