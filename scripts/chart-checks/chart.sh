# Sourced by scripts/check-chart.sh: the chart itself, rendered with every value set the repository
# ships, and its values.schema.json and template guards refusing bad values.
chart=charts/pubsub-aggregator
render_args=(--kube-version "${K8S_VERSIONS[0]}" --namespace pubsub)

# helm lint --strict, then helm template and kubeconform, for each value set.
check_chart_renders() {
  local values name
  for values in "$chart"/ci/*.yaml k8s/values-kind.yaml k8s/values-minikube.yaml; do
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
}

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

check_chart_rejects() {
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
}
