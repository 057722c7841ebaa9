import pg from 'pg';

/**
 * Creates the role ingest and consumer log in as, or brings an existing one back to exactly these
 * rights: LOGIN, no superuser or other role attributes, and on the current database's public
 * schema SELECT, INSERT, UPDATE on every table and the sequences' USAGE (BIGSERIAL defaults). That
 * is all the apps do: the consumer inserts events and duplicate records and upserts counters (ON
 * CONFLICT DO UPDATE needs UPDATE); ingest and the wait-for-migrations init container only read.
 * DELETE on processed_events and duplicate_events only, for the retention purge
 * (apps/consumer/retention.ts): a compromised pod could delete stored events there, which is what
 * retention does anyway; never the counters or the high-water mark, so it cannot make /stats lie
 * or a recreated stream reuse a sequence. No TRUNCATE, DDL or ownership.
 *
 * Idempotent and run by `migrate` after every migration, as the migration's (owner) user: the
 * grants then cover tables a new migration added, and a changed password takes effect at once.
 * Default privileges cover tables the same owner creates later by other means.
 */
export async function ensureAppRole(databaseUrl: string, user: string, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    // format(%I, %L) quotes on the server; role names and passwords never pass through string
    // concatenation here. The pattern check in shared/config.ts is a second line.
    const statements = await client.query<{ sql: string }>(
      `SELECT unnest(ARRAY[
         format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L', $1::text, $2::text),
         format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text),
         format('GRANT USAGE ON SCHEMA public TO %I', $1::text),
         format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', $1::text),
         format('GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO %I', $1::text),
         format('GRANT DELETE ON processed_events, duplicate_events TO %I', $1::text),
         format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $1::text),
         format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO %I', $1::text),
         format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', $1::text)
       ]) AS sql`,
      [user, password],
    );
    const self = await client.query<{ is_self: boolean }>('SELECT current_user = $1 AS is_self', [user]);
    if (self.rows[0]!.is_self) {
      throw new Error(`APP_DB_USER (${user}) is the user migrations run as; it must be a separate role`);
    }
    await client.query('BEGIN');
    // Two migrate Jobs of overlapping revisions may run this at once; CREATE ROLE has no IF NOT
    // EXISTS, so serialise on an advisory lock rather than race between the check and the create.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pubsub-aggregator app role'))");
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
    if (exists.rowCount === 0) {
      const create = await client.query<{ sql: string }>(`SELECT format('CREATE ROLE %I', $1::text) AS sql`, [user]);
      await client.query(create.rows[0]!.sql);
    }
    for (const { sql } of statements.rows) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end().catch(() => {});
  }
}
