#!/bin/bash
# Restores one dump of backup.sh into a freshly installed, migrated and still empty database: the
# rows only (`pg_restore --data-only`), since the schema is the migration Job's. Run by the restore
# Job (postgres image) after its init container saw every migration of the app image applied;
# test/chart/backup.test.ts runs it against a real PostgreSQL.
#   DATABASE_URL  postgresql:// URL of the schema owner
#   BACKUP_DIR    directory of the dumps
#   RESTORE_FILE  the dump's file name in BACKUP_DIR (e.g. pubsub-20261207T020000Z.dump)
# Exact, or nothing: everything runs in one transaction (psql --single-transaction, ON_ERROR_STOP),
# so a failure leaves the database as empty as it was and the Job can simply be retried.
# Prisma's _prisma_migrations is not restored (the migration Job wrote this image's); the dump's copy
# is checked instead: a dump holding a migration this database lacks (taken by a newer release) is
# refused, since its rows may not fit this schema.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is required}"
: "${BACKUP_DIR:?BACKUP_DIR is required}"
: "${RESTORE_FILE:?RESTORE_FILE is required}"
source "$(dirname "$0")/libpq-url.sh"
url="$(libpq_url "$DATABASE_URL")"
wait_for_postgres "$url"
case "$RESTORE_FILE" in */* | *.partial)
  echo "restore: RESTORE_FILE must be the name of a complete dump in $BACKUP_DIR, got '$RESTORE_FILE'" >&2
  exit 2 ;;
esac
dump="$BACKUP_DIR/$RESTORE_FILE"
if [ ! -f "$dump" ]; then
  echo "restore: $dump not found; dumps in $BACKUP_DIR:" >&2
  ls -1 "$BACKUP_DIR" >&2 || true
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The table of contents without _prisma_migrations, and that table's rows on their own, loaded into
# a temporary table to compare. pg_restore's SQL sets search_path to '' so every name below is
# schema-qualified.
pg_restore --list "$dump" | grep -v ' _prisma_migrations ' >"$work/toc"
pg_restore --data-only --use-list="$work/toc" --file="$work/data.sql" "$dump"
pg_restore --data-only --table=_prisma_migrations --file=- "$dump" |
  sed 's/^COPY public\._prisma_migrations /COPY pg_temp.dump_migrations /' >"$work/migrations.sql"

cat >"$work/before.sql" <<'SQL'
CREATE TEMP TABLE dump_migrations (LIKE public._prisma_migrations);
SQL
cat >"$work/check.sql" <<'SQL'
DO $$
DECLARE
  missing text;
  held bigint;
BEGIN
  SELECT string_agg(migration_name, ', ' ORDER BY migration_name) INTO missing
    FROM (SELECT migration_name FROM pg_temp.dump_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
          EXCEPT SELECT migration_name FROM public._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL) m;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'restore: the dump was taken by a newer release (migrations % are not applied here): install that release''s image, then restore', missing;
  END IF;
  SELECT (SELECT count(*) FROM public.processed_events) + (SELECT count(*) FROM public.duplicate_events) INTO held;
  IF held > 0 THEN
    RAISE EXCEPTION 'restore: the database already holds % event rows: restore only into a freshly installed release (if an earlier attempt of this Job finished, the restore is done)', held;
  END IF;
END $$;
SQL
# Every table of the schema but Prisma's: the migrations insert the one-row bookkeeping tables
# (stream_high_water, purged_rows), which the dump's rows replace.
tables="$(psql --dbname="$url" -X -A -t -v ON_ERROR_STOP=1 -c \
  "SELECT string_agg(format('public.%I', tablename), ', ') FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'")"
echo "TRUNCATE $tables;" >"$work/truncate.sql"

start=$(date +%s)
psql --dbname="$url" -X -q --output=/dev/null --single-transaction -v ON_ERROR_STOP=1 \
  -f "$work/before.sql" -f "$work/migrations.sql" -f "$work/check.sql" -f "$work/truncate.sql" -f "$work/data.sql"
events="$(psql --dbname="$url" -X -A -t -c 'SELECT count(*) FROM public.processed_events')"
echo "restore: restored $RESTORE_FILE in $(($(date +%s) - start)) s: $events events"
