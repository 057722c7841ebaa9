# Sourced by scripts/check-chart.sh: validation of rendered manifests against the Kubernetes API
# schemas of the oldest supported and the newest shipped version, offline.
KUBERNETES_VALIDATE_VERSION=1.37.0   # ships JSON schemas for Kubernetes 1.25 .. 1.37
K8S_VERSIONS=(1.30.0 1.37.0)         # oldest supported and newest shipped

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

# The plain Kubernetes manifests beside the chart.
check_k8s_manifests() {
  kubeconform_all k8s/namespace.yaml k8s/namespace.yaml
}
