# Sourced by scripts/check-chart.sh: the rendered nats-server configuration (1 and 3 servers) must
# parse: nats-server -t.
check_nats_conf() {
  local replicas
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
}
