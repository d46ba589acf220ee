#!/usr/bin/env bash
# The whole suite: the unit tests (CPU-bound) run at a lower priority beside the lab tests
# (mostly waiting on nodes), so the two take little more than the lab tests alone. Their
# output is printed after the lab tests'; the exit status fails when either part fails.
# With arguments, pytest runs them as given, in the foreground.
set -uo pipefail
py="${PY:-.venv/bin/python}"
if [ "$#" -gt 0 ]; then
  exec "$py" -m pytest "$@"
fi
log="$(mktemp "${TMPDIR:-/tmp}/spctl-unit.XXXXXX")"
# Job control on: without it bash starts a background job with SIGINT ignored, and the
# tests that stop spctl with Ctrl-C (SIGINT) would find it ignoring them.
set -m
nice -n 10 "$py" -m pytest tests/unit -q >"$log" 2>&1 &
unit=$!
set +m
trap '[ "$unit" -gt 0 ] && kill -- "-$unit" 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 130' INT TERM
"$py" -m pytest tests/lab --durations=20  # the slowest, to keep the suite in its budget
lab=$?
wait "$unit"
unit_status=$?
unit=0  # reaped: nothing to stop on exit
echo "=== unit tests (run beside the lab tests) ==="
cat "$log"
[ "$lab" -eq 0 ] && [ "$unit_status" -eq 0 ]
