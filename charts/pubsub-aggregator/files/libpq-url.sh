# libpq_url URL: the postgresql:// URL with only the query parameters libpq knows. The apps' URL is
# Prisma's, whose own parameters (schema, connection_limit, pool_timeout, pgbouncer, ...) make
# pg_dump and psql refuse the URL ("invalid URI query parameter").
libpq_url() {
  local url="$1" base query kept="" pair key
  base="${url%%\?*}"
  [[ "$url" == *\?* ]] || { printf '%s' "$url"; return; }
  query="${url#*\?}"
  IFS='&' read -ra pairs <<<"$query"
  for pair in "${pairs[@]}"; do
    key="${pair%%=*}"
    case "$key" in
      host | hostaddr | port | dbname | user | password | connect_timeout | options | application_name | \
        sslmode | sslcert | sslkey | sslrootcert | sslcrl | sslpassword | target_session_attrs | keepalives*)
        kept="${kept:+$kept&}$pair" ;;
    esac
  done
  printf '%s' "$base${kept:+?$kept}"
}

# wait_for_postgres URL [SECONDS]: until PostgreSQL accepts connections (default 120 s). On the
# kube-lab (kube-router) a new backup pod's connections were refused while PostgreSQL served the
# apps, whose clients retry: three Job pods in a row failed within a second each. A NetworkPolicy
# reaching a new pod late, or a database restarting, should delay a backup, not fail it.
wait_for_postgres() {
  local url="$1" limit="${2:-120}" start
  start=$(date +%s)
  until pg_isready --dbname="$url" --timeout=5 >/dev/null 2>&1; do
    if (($(date +%s) - start >= limit)); then
      echo "PostgreSQL did not accept connections within ${limit} s: $(pg_isready --dbname="$url" --timeout=5 2>&1)" >&2
      return 1
    fi
    sleep 2
  done
}
