# A throw-away single-node Slurm cluster with accounting, in its own config and state folders (root only).
# Source scripts/lib/common.sh first. slurm_start exports SLURM_CONF; slurm_stop stops what it started and
# removes the folder. Facts behind the settings: ../shared/SLURM.md. SLURM_EXTRA_CONF, when set, is appended to
# slurm.conf (a benchmark's own partition, say); the test suite never sets it.
# shellcheck shell=bash

SLURM_DIR=""
SLURM_CLUSTER=jobbergate-test
SLURM_PACKAGES=(munge slurm-client slurmctld slurmd slurmdbd slurm-wlm-mysql-plugin mariadb-server mariadb-client)
_slurm_started_munge=""

_wait_for() {
  # _wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND until it succeeds or the time is up.
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

_slurm_packages() {
  local missing=()
  for binary in munged slurmctld slurmd slurmdbd mariadbd sbatch; do
    command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || missing+=("$binary")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  is_root || { log "Slurm is missing (${missing[*]}): as root run: apt-get install ${SLURM_PACKAGES[*]}"; return 1; }
  apt_install "${SLURM_PACKAGES[@]}"
}

_slurm_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge: /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge: /run/munge /var/lib/munge /var/log/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force || return 1
    _slurm_started_munge=1
    _wait_for 10 munge sh -c 'munge -n | unmunge'
  fi
}

_slurm_mariadb() {
  local db=$SLURM_DIR/mariadb
  mkdir -p "$db" "$SLURM_DIR/mariadb-run" && chown mysql: "$db" "$SLURM_DIR/mariadb-run"
  mariadb-install-db --no-defaults --user=mysql --datadir="$db" --auth-root-authentication-method=normal \
    >"$SLURM_DIR/log/mariadb-install.log" 2>&1 || { cat "$SLURM_DIR/log/mariadb-install.log" >&2; return 1; }
  MARIADB_PORT=$(free_port)
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$db" --bind-address=127.0.0.1 --port="$MARIADB_PORT" \
    --socket="$SLURM_DIR/mariadb-run/mariadb.sock" --pid-file="$SLURM_DIR/mariadb-run/mariadb.pid" --skip-log-bin \
    --innodb-buffer-pool-size=512M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
    >"$SLURM_DIR/log/mariadb.log" 2>&1 &
  _wait_for 60 MariaDB mariadb-admin --no-defaults --socket="$SLURM_DIR/mariadb-run/mariadb.sock" ping || return 1
  mariadb --no-defaults --socket="$SLURM_DIR/mariadb-run/mariadb.sock" -u root <<SQL
CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$SLURM_DB_PASSWORD';
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$SLURM_DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
}

_slurm_configs() {
  local host memory hardware
  host=$(hostname -s)
  memory=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  hardware=$(slurmd -C | head -n 1 | sed -e "s/^NodeName=[^ ]* //" -e "s/RealMemory=[0-9]*/RealMemory=$memory/")
  SLURM_DBD_PORT=$(free_port)
  cat >"$SLURM_DIR/etc/slurmdbd.conf" <<CONF
DbdHost=localhost
DbdPort=$SLURM_DBD_PORT
SlurmUser=root
AuthType=auth/munge
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MARIADB_PORT
StorageUser=slurm
StoragePass=$SLURM_DB_PASSWORD
StorageLoc=slurm_acct_db
LogFile=$SLURM_DIR/log/slurmdbd.log
PidFile=$SLURM_DIR/run/slurmdbd.pid
CONF
  chmod 600 "$SLURM_DIR/etc/slurmdbd.conf"
  cat >"$SLURM_DIR/etc/slurm.conf" <<CONF
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$SLURM_DBD_PORT
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
MinJobAge=5
KillWait=5
MailProg=/bin/true
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  if [ -n "${SLURM_EXTRA_CONF:-}" ]; then
    printf '%s\n' "$SLURM_EXTRA_CONF" >>"$SLURM_DIR/etc/slurm.conf"
  fi
  cat >"$SLURM_DIR/etc/cgroup.conf" <<CONF
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
CONF
}

# slurm_add_users USER...: give users an association, so Slurm accepts their jobs.
slurm_add_users() {
  local user
  for user in "$@"; do
    sacctmgr -i add user "$user" Account=jobbergate >/dev/null || return 1
  done
}

slurm_start() {
  is_root || { log "a throw-away Slurm cluster needs root (its daemons and munge)"; return 1; }
  _slurm_packages || return 1
  SLURM_DIR=$(mktemp -d /tmp/jobbergate-slurm.XXXXXX)
  chmod 755 "$SLURM_DIR"
  mkdir -p "$SLURM_DIR"/{etc,state,spool,log,run}
  SLURM_DB_PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(16))')
  export SLURM_CONF=$SLURM_DIR/etc/slurm.conf
  _slurm_munge || return 1
  _slurm_mariadb || return 1
  _slurm_configs || return 1
  slurmdbd || return 1
  _wait_for 60 slurmdbd sacctmgr -n show cluster || { tail -20 "$SLURM_DIR/log/slurmdbd.log" >&2; return 1; }
  sacctmgr -i add cluster "$SLURM_CLUSTER" >/dev/null
  sacctmgr -i add account jobbergate Cluster="$SLURM_CLUSTER" Description=tests Organization=jobbergate >/dev/null
  slurm_add_users root || return 1
  slurmctld || { tail -20 "$SLURM_DIR/log/slurmctld.log" >&2; return 1; }
  slurmd || { tail -20 "$SLURM_DIR/log/slurmd.log" >&2; return 1; }
  _wait_for 60 "the node to be idle" sh -c 'sinfo -h -o %T | grep -qx idle' \
    || { sinfo >&2; tail -20 "$SLURM_DIR/log/slurmd.log" >&2; return 1; }
  log "throw-away Slurm cluster $SLURM_CLUSTER ($SLURM_DIR, SLURM_CONF exported)"
}

_slurm_kill() {
  local pidfile=$1
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

slurm_stop() {
  [ -n "$SLURM_DIR" ] || return 0
  _slurm_kill "$SLURM_DIR/run/slurmd.pid"
  _slurm_kill "$SLURM_DIR/run/slurmctld.pid"
  _slurm_kill "$SLURM_DIR/run/slurmdbd.pid"
  _slurm_kill "$SLURM_DIR/mariadb-run/mariadb.pid"
  if [ -n "$_slurm_started_munge" ]; then
    pkill -u munge munged 2>/dev/null || true
  fi
  rm -rf "$SLURM_DIR"
  SLURM_DIR=""
}
