#!/bin/bash
# One logical backup of the release's database: `pg_dump -Fc` into BACKUP_DIR, keeping the newest
# BACKUP_KEEP dumps. Run by the backup CronJob (postgres image); test/chart/backup.test.ts runs it
# against a real PostgreSQL.
#   DATABASE_URL  postgresql:// URL of the schema owner (Prisma-only query parameters are dropped)
#   BACKUP_DIR    directory of the dumps (the backup PVC)
#   BACKUP_KEEP   how many complete dumps to keep, >= 1
# A dump is written as <name>.dump.partial and renamed to <name>.dump only once pg_dump succeeded
# (rename within one directory is atomic): a dump cut short by a crash, an OOM kill or a full volume
# never looks complete, is never counted among the kept ones and is deleted by the next run.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is required}"
: "${BACKUP_DIR:?BACKUP_DIR is required}"
keep="${BACKUP_KEEP:-7}"
if ! [[ "$keep" =~ ^[1-9][0-9]*$ ]]; then
  echo "backup: BACKUP_KEEP must be an integer >= 1, got '$keep'" >&2
  exit 2
fi
source "$(dirname "$0")/libpq-url.sh"
url="$(libpq_url "$DATABASE_URL")"
wait_for_postgres "$url"

cd "$BACKUP_DIR"
# Leftovers of runs that died mid-dump (concurrencyPolicy Forbid: no other run is writing now).
rm -f -- *.dump.partial
# UTC and sortable: the newest dump is the last name in ls order.
name="pubsub-$(date -u +%Y%m%dT%H%M%SZ).dump"
start=$(date +%s)
pg_dump --format=custom --no-owner --no-privileges --dbname="$url" --file="$name.partial"
mv -- "$name.partial" "$name"
echo "backup: wrote $BACKUP_DIR/$name ($(stat -c %s "$name") bytes) in $(($(date +%s) - start)) s"

# Keep the newest $keep complete dumps.
mapfile -t dumps < <(ls -1 -- *.dump 2>/dev/null | sort)
if ((${#dumps[@]} > keep)); then
  for old in "${dumps[@]:0:${#dumps[@]}-keep}"; do
    rm -f -- "$old"
    echo "backup: deleted $old (keeping the newest $keep)"
  done
fi
echo "backup: $(ls -1 -- *.dump | wc -l) dump(s) kept; volume: $(df -h --output=used,size,pcent . | tail -n 1 | xargs)"
