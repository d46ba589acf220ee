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
trap 'rm -f "$log"' EXIT
nice -n 10 "$py" -m pytest tests/unit -q >"$log" 2>&1 &
unit=$!
"$py" -m pytest tests/lab
lab=$?
wait "$unit"
unit_status=$?
echo "=== unit tests (run beside the lab tests) ==="
cat "$log"
[ "$lab" -eq 0 ] && [ "$unit_status" -eq 0 ]
