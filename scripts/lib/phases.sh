# Run named phases, keep going when one fails, and print a summary at the end. Used by scripts/test.
#   phase NAME COMMAND...      print a "== NAME" header, run COMMAND, record ok / FAILED (exit code) and time
#   record_phase NAME OUTCOME  record a phase that did not run a command (e.g. "skipped (why)", "FAILED (why)")
#   print_summary              print the table; returns 1 when any phase FAILED
#   print_test_counts FILE...  print "tests: N passed, N failed, N skipped" summed over pytest's JUnit XML files
# Source scripts/lib/common.sh first.
# shellcheck shell=bash

_phase_names=()
_phase_outcomes=()

record_phase() {
  _phase_names+=("$1")
  _phase_outcomes+=("$2")
}

phase() {
  local name=$1 status=0 started=$SECONDS
  shift
  log "== $name"
  "$@" || status=$?
  local took="$((SECONDS - started)) s"
  case $status in
    0) record_phase "$name" "ok ($took)" ;;
    5) record_phase "$name" "FAILED (exit 5: no tests collected)" ;;
    *) record_phase "$name" "FAILED (exit $status, $took)" ;;
  esac
  return 0
}

print_summary() {
  local index failed=0
  log "== summary"
  for index in "${!_phase_names[@]}"; do
    printf '  %-46s %s\n' "${_phase_names[$index]}" "${_phase_outcomes[$index]}"
    case ${_phase_outcomes[$index]} in FAILED*) failed=1 ;; esac
  done
  return "$failed"
}

# pytest writes its counts to the JUnit XML files given with --junitxml; missing files (a run that did not
# happen or crashed) count nothing. The line is the plain "N passed, N failed" form CI logs are read for.
print_test_counts() {
  .venv/bin/python - "$@" <<'EOF'
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

passed = failed = skipped = 0
for name in sys.argv[1:]:
    if not Path(name).is_file():
        continue
    root = ElementTree.parse(name).getroot()
    for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
        total, skips = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        fails = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        passed, failed, skipped = passed + total - fails - skips, failed + fails, skipped + skips
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
EOF
}
