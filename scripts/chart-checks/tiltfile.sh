# Sourced by scripts/check-chart.sh: the Tiltfile. tilt itself is not on the Go module proxy.
# Instead the Tiltfile is executed by a real Starlark interpreter with Tilt's API stubbed: syntax,
# unknown functions or arguments and bad values fail, and every k8s_resource() must name a workload
# that the chart renders with the Tiltfile's values.
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
