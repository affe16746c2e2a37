# Shared helpers of scripts/serve, scripts/test and bench/run. Source it from the repository root; it defines
# functions only (and two empty variables), and runs nothing.
# shellcheck shell=bash

# --- messages -------------------------------------------------------------------------------------------------

# log MESSAGE...: one line on standard output, prefixed with [$LOG_TAG] ("[test] ..." in scripts/test).
log() { printf '[%s] %s\n' "${LOG_TAG:-jobbergate}" "$*"; }
# warn MESSAGE...: the same on standard error, for what a person should notice.
warn() { printf '[%s] WARNING: %s\n' "${LOG_TAG:-jobbergate}" "$*" >&2; }
# fail MESSAGE...: say what went wrong and exit 1 (the exit hooks below still run).
fail() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-jobbergate}" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
in_ci() { [ "${CI:-}" = "true" ]; }
skip_install() { [ "${JOBBERGATE_SKIP_INSTALL:-}" = "1" ]; }

# --- clean-up on exit -------------------------------------------------------------------------------------------

_exit_hooks=()
# at_exit FUNCTION: call FUNCTION (a name, no arguments) when the script exits: normally, through `fail`, on an
# error under `set -e`, or on Ctrl-C / SIGTERM / SIGHUP. Hooks run last-registered first; a failing hook does not
# stop the others. It replaces any EXIT, INT, TERM or HUP trap set before.
at_exit() {
  _exit_hooks+=("$1")
  trap _run_exit_hooks EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

_run_exit_hooks() {
  local index
  for ((index = ${#_exit_hooks[@]} - 1; index >= 0; index--)); do
    "${_exit_hooks[$index]}" || true
  done
  _exit_hooks=()
}

# --- Debian packages -------------------------------------------------------------------------------------------

_apt_updated=""
# apt_install PACKAGE...: install Debian packages (root only), running apt-get update once per script run.
apt_install() {
  is_root || return 1
  if [ -z "$_apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null || fail "apt-get update failed"
    _apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "$@" >/dev/null || fail "apt-get install $* failed"
}

# ensure_debian_packages CHECK_PATH=PACKAGE...: install, in one apt-get call, every PACKAGE whose CHECK_PATH (a
# path, or a glob such as /usr/lib/postgresql/*/bin/initdb) does not exist. When not root, print the command to
# run as root instead; under CI=true that is fatal, otherwise return 1 and let the tests that need them skip.
ensure_debian_packages() {
  local spec check package
  local -a missing=()
  for spec in "$@"; do
    check=${spec%%=*}
    package=${spec#*=}
    compgen -G "$check" >/dev/null || missing+=("$package")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  if is_root; then
    apt_install "${missing[@]}"
    return 0
  fi
  warn "missing Debian packages: ${missing[*]}; as root run:" \
    "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  in_ci && fail "CI=true needs them: install them (or run as root) and try again"
  warn "going on without them: the tests that need them will be skipped"
  return 1
}

# need_debian_package CHECK_PATH PACKAGE WHAT: one package, as above. Kept for bench/ and older callers.
need_debian_package() {
  local check=$1 package=$2 what=$3
  compgen -G "$check" >/dev/null && return 0
  is_root || log "$what is missing"
  ensure_debian_packages "$check=$package"
}

# --- Python ----------------------------------------------------------------------------------------------------

# quiet_pip: drop pip's warnings about package index folders this machine's pip configuration names but lacks.
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" || true; }

# _pip_install VENV_DIR REQUIREMENTS_FILE: pip install quietly; print pip's errors and warnings, if any.
_pip_install() {
  local dir=$1 requirements=$2 errors status=0
  errors=$(mktemp)
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>"$errors" || status=$?
  quiet_pip <"$errors" >&2
  rm -f "$errors"
  return "$status"
}

# _make_venv DIR: create a virtualenv with $PYTHON (default python3), 3.11 or newer; installs Debian's
# python3-venv first when it is missing and we are root. A half-made one (no pip) is made again.
_make_venv() {
  local dir=$1 python=${PYTHON:-python3}
  [ -x "$dir/bin/python" ] && [ -x "$dir/bin/pip" ] && return 0
  "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' \
    || fail "$python must be Python 3.11 or newer (PYTHON=... selects another interpreter)"
  log "creating the virtualenv $dir"
  if ! "$python" -m venv --clear "$dir" >/dev/null 2>&1; then
    is_root || fail "cannot create a virtualenv: as root run: apt-get update && apt-get install -y python3-venv"
    apt_install python3-venv
    "$python" -m venv --clear "$dir" || fail "cannot create the virtualenv $dir"
  fi
}

# ensure_venv REQUIREMENTS_FILE: make .venv if missing and pip install REQUIREMENTS_FILE (which may include
# requirements.txt with -r) when it or requirements.txt changed since the last install: a hash of both is kept in
# .venv/.requirements-hash. JOBBERGATE_SKIP_INSTALL=1 skips it all (then .venv must exist).
ensure_venv() {
  local requirements=$1 stamp=.venv/.requirements-hash hash
  if skip_install; then
    [ -x .venv/bin/python ] || fail "JOBBERGATE_SKIP_INSTALL=1 but there is no .venv: run once without it"
    return 0
  fi
  _make_venv .venv
  hash=$(cat "$requirements" requirements.txt | sha256sum | cut -d' ' -f1)-$requirements
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "installing Python packages from $requirements (quietly)"
    _pip_install .venv "$requirements" || fail "pip install -r $requirements failed (see above)"
    printf '%s\n' "$hash" >"$stamp"
  fi
}

# ensure_side_venv DIR REQUIREMENTS_FILE: a separate virtualenv for a tool that must not share our packages
# (the upstream jobbergate-cli the wire-compatibility tests run), reinstalled when REQUIREMENTS_FILE changed.
ensure_side_venv() {
  local dir=$1 requirements=$2 stamp hash
  skip_install && return 0
  _make_venv "$dir"
  stamp=$dir/.requirements-hash
  hash=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "installing $requirements into $dir (quietly)"
    _pip_install "$dir" "$requirements" || fail "pip install -r $requirements into $dir failed (see above)"
    printf '%s\n' "$hash" >"$stamp"
  fi
}

# free_port: print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  local python=python3
  [ -x .venv/bin/python ] && python=.venv/bin/python
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- Node.js ---------------------------------------------------------------------------------------------------

# ensure_test_openid_provider: Node and npm (from Debian when missing and root), then the test OpenID provider's
# packages from its lock file (npm ci), reinstalled only when the lock file changed.
ensure_test_openid_provider() {
  skip_install && return 0
  ensure_debian_packages /usr/bin/node=nodejs /usr/bin/npm=npm || return 0
  local folder=tests/oidc_provider stamp hash
  stamp=$folder/node_modules/.lock-hash
  hash=$(sha256sum "$folder/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "npm ci in $folder"
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in $folder failed"
    printf '%s\n' "$hash" >"$stamp"
  fi
}
