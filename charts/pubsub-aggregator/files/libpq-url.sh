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
