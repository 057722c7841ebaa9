# Sourced by scripts/check-chart.sh: the run's scratch directory and how a check reports.
#   out        scratch directory for renders and logs, removed on exit
#   log MSG    progress on stderr
#   fail MSG   a failed check: reported, counted, and the run goes on (check-chart.sh exits 1 at the end)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
failures=0
log() { printf '[check-chart] %s\n' "$*" >&2; }
fail() { printf '[check-chart] FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
