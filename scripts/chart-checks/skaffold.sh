# Sourced by scripts/check-chart.sh: skaffold.yaml, through a skaffold built from the Go module proxy:
# every profile parses, and the kind and minikube renders carry the built image tag and validate.
SKAFFOLD_VERSION=v2.16.1

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
