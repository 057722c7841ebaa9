// The image's commands, run from the compiled dist/ exactly as the Dockerfile's ENTRYPOINT does:
// `node dist/apps/main.js migrate|ingest|consumer`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForStats } from '../../load/client.ts';
import { startApp } from '../../scripts/lib/apps.ts';
import { startNats, type NatsServer } from '../../scripts/lib/nats-server.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';

const MAIN = path.resolve('dist/apps/main.js');
const APP_ROLE = { APP_DB_USER: 'events_app', APP_DB_PASSWORD: 'app-password-1' };
/** The database URL with the app role as user (the test server trusts loopback logins). */
const appUrl = () => db.url.replace('postgres@', `${APP_ROLE.APP_DB_USER}@`);
let db: Postgres;
let nats: NatsServer;
beforeAll(async () => {
  [db, nats] = await Promise.all([startPostgres(), startNats()]);
});
afterAll(async () => {
  await Promise.all([db?.remove(), nats?.remove()]);
});

describe('image entry points', () => {
  it('migrate applies the committed migrations with no native Prisma engine, and is idempotent', async () => {
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, [MAIN, 'migrate'], {
        env: { ...process.env, DATABASE_URL: db.url, ...APP_ROLE },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain(`role ${APP_ROLE.APP_DB_USER}: login`);
      // Prisma's "url is unused with a driver adapter" warning is dropped, the rest of its report kept.
      expect(r.stdout).toMatch(i === 0 ? /have been applied/ : /No pending migrations to apply/);
      expect(r.stdout).not.toContain('WARNING');
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      expect(rows.map((r) => r.table_name)).toEqual([
        '_prisma_migrations',
        'duplicate_events',
        'processed_events',
        'purged_rows',
        'stream_high_water',
        'topic_counters',
      ]);
    } finally {
      await client.end();
    }
  });

  it('migrate gives the apps their own role: rows only, no superuser, no DDL, DELETE only of events; a new password replaces the old', async () => {
    const admin = new pg.Client({ connectionString: db.url });
    const app = new pg.Client({ connectionString: appUrl() });
    await Promise.all([admin.connect(), app.connect()]);
    try {
      const role = (
        await admin.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [
          APP_ROLE.APP_DB_USER,
        ])
      ).rows[0];
      expect(role).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolcanlogin: true });
      // What the apps do: insert, upsert, read.
      await app.query(
        "INSERT INTO topic_counters (topic, unique_processed) VALUES ('t', 1) ON CONFLICT (topic) DO UPDATE SET unique_processed = topic_counters.unique_processed + 1",
      );
      expect((await app.query("SELECT unique_processed FROM topic_counters WHERE topic = 't'")).rows[0].unique_processed).toBe('1');
      expect((await app.query('SELECT count(*) FROM _prisma_migrations')).rows[0].count).not.toBe('0');
      // The retention purge: stored events and duplicate records, and the marks it keeps.
      await app.query('DELETE FROM processed_events WHERE stream_seq < 0');
      await app.query('DELETE FROM duplicate_events WHERE stream_seq < 0');
      await app.query('UPDATE stream_high_water SET stream_seq = stream_seq WHERE id');
      await app.query('UPDATE purged_rows SET processed_events = processed_events WHERE id');
      // What they must not do.
      for (const sql of [
        'DELETE FROM topic_counters',
        'DELETE FROM stream_high_water',
        'DELETE FROM purged_rows',
        'TRUNCATE processed_events',
        'DROP TABLE duplicate_events',
        'CREATE TABLE x (i int)',
        'ALTER TABLE topic_counters ADD COLUMN x int',
      ]) {
        await expect(app.query(sql), sql).rejects.toThrow(/permission denied|must be owner/);
      }
      // Re-running with another password changes it (trust auth here, so compare the stored hash).
      const r = spawnSync(process.execPath, [MAIN, 'migrate'], {
        env: { ...process.env, DATABASE_URL: db.url, ...APP_ROLE, APP_DB_PASSWORD: 'another-password' },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const after = (await admin.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [APP_ROLE.APP_DB_USER])).rows[0];
      expect(after.rolpassword).not.toBe(role.rolpassword);
    } finally {
      await Promise.all([admin.end(), app.end()]);
    }
    // The migration's own user cannot be handed to the apps (that would strip its superuser).
    const self = spawnSync(process.execPath, [MAIN, 'migrate'], {
      env: { ...process.env, DATABASE_URL: db.url, APP_DB_USER: 'postgres', APP_DB_PASSWORD: 'whatever-pw' },
      encoding: 'utf8',
    });
    expect(self.status).not.toBe(0);
    expect(self.stderr).toMatch(/APP_DB_USER \(postgres\) is the user migrations run as/);
    const half = spawnSync(process.execPath, [MAIN, 'migrate'], {
      env: { ...process.env, DATABASE_URL: db.url, APP_DB_USER: 'x_app' },
      encoding: 'utf8',
    });
    expect(half.stderr).toMatch(/APP_DB_USER and env\/APP_DB_PASSWORD must be set together/);
  });

  it('ingest and consumer start as the app role and answer their probes; ingest serves /metrics on METRICS_PORT only when METRICS_ON_API_PORT=false', async () => {
    const env = { DATABASE_URL: appUrl(), NATS_URL: nats.url };
    const metricsPort = await freePort();
    const consumer = await startApp('consumer', env, { runner: 'dist' });
    const ingest = await startApp(
      'ingest',
      { ...env, METRICS_PORT: String(metricsPort), METRICS_ON_API_PORT: 'false' },
      { runner: 'dist' },
    );
    try {
      for (const app of [ingest, consumer]) {
        expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      }
      expect(await (await fetch(`${consumer.url}/metrics`)).text()).toMatch(/process_cpu_seconds_total/);
      // The API port (behind the public Service) no longer tells anyone the process's internals.
      expect((await fetch(`${ingest.url}/metrics`)).status).toBe(404);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/ingest_events_accepted_total/);
      // Only the metrics: the API is not reachable through the metrics port.
      expect((await fetch(`http://127.0.0.1:${metricsPort}/stats`)).status).toBe(404);
      const published = await fetch(`${ingest.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'entry.points', event_id: 'e-1', timestamp: '2026-11-26T10:00:00Z' }),
      });
      expect(published.status).toBe(202);
      // Stored by the consumer as the app role.
      await waitForStats(ingest.url, (s) => s.unique_processed >= 1, 30_000);
      expect(await ingest.stop('SIGTERM')).toBe(0);
      expect(await consumer.stop('SIGTERM')).toBe(0);
    } finally {
      await Promise.all([ingest.stop('SIGKILL'), consumer.stop('SIGKILL')]);
    }
  });

  it('refuses an unknown command and a bad config with a message naming the problem', () => {
    const bad = spawnSync(process.execPath, [MAIN, 'serve'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/usage: main.js ingest\|consumer\|migrate/);
    const noDb = spawnSync(process.execPath, [MAIN, 'ingest'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(noDb.status).not.toBe(0);
    expect(noDb.stderr + noDb.stdout).toMatch(/DATABASE_URL/);
  });
});
