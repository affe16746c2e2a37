# Shared helpers of scripts/serve, scripts/test and bench/run. Source it; it defines functions only.
# shellcheck shell=bash

log() { printf '[%s] %s\n' "${LOG_TAG:-jobbergate}" "$*"; }
fail() { log "ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
in_ci() { [ "${CI:-}" = "true" ]; }

# ensure_venv REQUIREMENTS_FILE: create .venv with python3.11 if missing and install the pinned requirements
# when the requirement files changed since the last install (a hash is kept inside .venv).
ensure_venv() {
  local requirements=$1 python=${PYTHON:-python3}
  [ "${JOBBERGATE_SKIP_INSTALL:-}" = "1" ] && return 0
  if [ ! -x .venv/bin/python ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' \
      || fail "$python must be Python 3.11 or newer (PYTHON=... selects another interpreter)"
    if ! "$python" -m venv .venv 2>/dev/null; then
      if is_root; then
        apt_install python3-venv
        "$python" -m venv .venv
      else
        fail "cannot create a virtualenv: as root run: apt-get install python3-venv"
      fi
    fi
  fi
  local stamp=.venv/.requirements-hash hash
  hash=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)-$requirements
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "installing Python packages from $requirements"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" 2> >(quiet_pip >&2) \
      || fail "pip install -r $requirements failed"
    printf '%s' "$hash" > "$stamp"
  fi
}

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

# need_debian_package CHECK_PATH PACKAGE WHAT: make sure a Debian package is there, or explain what to run.
# Returns 1 (after saying so) when it is missing and cannot be installed; in CI that is fatal.
need_debian_package() {
  local check=$1 package=$2 what=$3
  # shellcheck disable=SC2086 # CHECK_PATH may be a glob
  if compgen -G "$check" >/dev/null; then return 0; fi
  if is_root; then
    apt_install "$package"
    return 0
  fi
  log "$what is missing: as root run: apt-get install $package"
  in_ci && fail "$what is required in CI"
  return 1
}

# quiet_pip: drop pip's warnings about package index folders this machine's pip configuration names but lacks.
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" || true; }

free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ensure_side_venv DIR REQUIREMENTS_FILE: a separate virtualenv for a tool that must not share our packages
# (the upstream jobbergate-cli the wire-compatibility tests run).
ensure_side_venv() {
  local dir=$1 requirements=$2 python=${PYTHON:-python3}
  [ "${JOBBERGATE_SKIP_INSTALL:-}" = "1" ] && return 0
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir" || fail "cannot create $dir"
  local stamp=$dir/.requirements-hash hash
  hash=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "installing $requirements into $dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" 2> >(quiet_pip >&2) \
      || fail "pip install -r $requirements into $dir failed"
    printf '%s' "$hash" > "$stamp"
  fi
}

# ensure_test_openid_provider: Node and npm (from Debian when missing and root), then the test OpenID provider's
# packages from its lock file (npm ci), reinstalled only when the lock file changed.
ensure_test_openid_provider() {
  [ "${JOBBERGATE_SKIP_INSTALL:-}" = "1" ] && return 0
  need_debian_package /usr/bin/node nodejs "Node.js (the test OpenID provider)" || return 0
  need_debian_package /usr/bin/npm npm "npm (the test OpenID provider)" || return 0
  local folder=tests/oidc_provider stamp hash
  stamp=$folder/node_modules/.lock-hash
  hash=$(sha256sum "$folder/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "npm ci in $folder"
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in $folder failed"
    printf '%s' "$hash" > "$stamp"
  fi
}
