# Sourced by scripts/check-chart.sh: the file the PrometheusRule template loads, as Prometheus itself
# would: valid, and every alert firing (and not) where test/alerts/ says.
check_alert_rules() {
  local rules="$chart/files/prometheus-rules.yaml"
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
}
