# A throw-away PostgreSQL server for tests and benchmarks. Source it (it sources common.sh when needed), then:
#   pg_start   install Debian's postgresql when initdb is missing (root only), initdb a temporary folder, start
#              the server on a free port of 127.0.0.1, create the database "jobbergate" and export
#              DATABASE_URL=postgres://postgres@127.0.0.1:PORT/jobbergate. Returns 1 (after saying why) when
#              it cannot. It registers pg_stop to run at exit, also on failure or Ctrl-C.
#   pg_stop    stop the server and delete the folder; safe to call twice, or without pg_start.
# Try it alone:
#   bash -c 'source scripts/lib/postgres.sh; pg_start; psql "$DATABASE_URL" -c "select 1"; pg_stop'
# shellcheck shell=bash

if [ "$(type -t log)" != function ]; then
  # shellcheck source=scripts/lib/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

PG_DIR=""  # the temporary folder: data/, server.log and the unix socket
PG_BIN=""  # e.g. /usr/lib/postgresql/15/bin
PG_PID=""  # the postmaster's process id
PG_STARTING=""  # set while pg_ctl start runs: an interrupted start may leave a server that has no pid file yet

# _pg_as_owner COMMAND...: initdb and postgres refuse to run as root, so as root run them as the postgres user.
# Run from the temporary folder, which that user can enter (it may not be able to enter ours).
_pg_as_owner() {
  if is_root; then
    (cd "$PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

# _pg_give_up MESSAGE LOG_FILE: say why, show the end of the log and clean up (the caller then returns 1).
_pg_give_up() {
  warn "PostgreSQL: $1"
  if [ -f "$2" ]; then tail -n 20 "$2" >&2; fi
  pg_stop
}

pg_start() {
  if ! skip_install; then
    ensure_debian_packages "/usr/lib/postgresql/*/bin/initdb=postgresql" || return 1
  fi
  local initdb
  initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1) || true
  [ -n "$initdb" ] || { warn "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)"; return 1; }
  PG_BIN=$(dirname "$initdb")
  if is_root && ! id postgres >/dev/null 2>&1; then
    warn "PostgreSQL: there is no 'postgres' user to run the server as (reinstall the postgresql package)"
    return 1
  fi

  PG_DIR=$(mktemp -d /tmp/jobbergate-pg.XXXXXX)
  at_exit pg_stop
  chmod 755 "$PG_DIR"
  if is_root; then chown postgres: "$PG_DIR"; fi

  _pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$PG_DIR/initdb.log" 2>&1 || { _pg_give_up "initdb failed" "$PG_DIR/initdb.log"; return 1; }

  local port
  port=$(free_port)
  # Settings for a server whose data may be lost at any time: no waiting for the disk.
  cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# Added by scripts/lib/postgres.sh: a throw-away server for tests.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF

  PG_STARTING=1
  local started=0
  _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null 2>&1 || started=$?
  PG_STARTING=""
  PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
  [ "$started" -eq 0 ] || { _pg_give_up "the server did not start" "$PG_DIR/server.log"; return 1; }

  local tries=0
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || { _pg_give_up "not ready after 60 s" "$PG_DIR/server.log"; return 1; }
    sleep 0.5
  done

  "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres jobbergate \
    || { _pg_give_up "could not create the database jobbergate" "$PG_DIR/server.log"; return 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/jobbergate"
  log "throw-away PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  local pid_file=$PG_DIR/data/postmaster.pid tries=0
  while [ -n "$PG_STARTING" ] && [ ! -f "$pid_file" ] && [ "$tries" -lt 50 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  [ -n "$PG_PID" ] || PG_PID=$(head -n 1 "$pid_file" 2>/dev/null || true)
  if [ -f "$pid_file" ]; then
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  # Be sure the server is gone before its folder is (it runs in a session of its own, so Ctrl-C misses it).
  if [ -n "$PG_PID" ]; then
    tries=0
    while kill -0 "$PG_PID" 2>/dev/null && [ "$tries" -lt 100 ]; do
      sleep 0.1
      tries=$((tries + 1))
    done
    if kill -0 "$PG_PID" 2>/dev/null; then kill -KILL "$PG_PID" 2>/dev/null || true; fi
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
  PG_PID=""
  PG_STARTING=""
}
