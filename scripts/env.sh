# Sourced by the project's scripts: puts the pinned tools from scripts/install-prereqs.sh first on PATH.
export PREREQS_DIR="${PREREQS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pubsub-aggregator}"
export PATH="$PREREQS_DIR/bin:$PREREQS_DIR/node/bin:$PATH"
# Debian keeps initdb/pg_ctl/postgres out of PATH, under /usr/lib/postgresql/<major>/bin.
pg_bindir() {
  if command -v initdb >/dev/null && command -v postgres >/dev/null; then dirname "$(command -v postgres)"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
