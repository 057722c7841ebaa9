// The image's commands, run from the compiled dist/ exactly as the Dockerfile's ENTRYPOINT does:
// `node dist/apps/main.js migrate|ingest|consumer`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, startNats, startPostgres, type NatsServer, type Postgres } from '../../scripts/lib/services.ts';

const MAIN = path.resolve('dist/apps/main.js');
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
      const r = spawnSync(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url }, encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      expect(rows.map((r) => r.table_name)).toEqual(['_prisma_migrations', 'duplicate_events', 'processed_events', 'topic_counters']);
    } finally {
      await client.end();
    }
  });

  it('ingest and consumer start and answer their probes', async () => {
    const env = { DATABASE_URL: db.url, NATS_URL: nats.url };
    const consumer = await startApp('consumer', env, { runner: 'dist' });
    const ingest = await startApp('ingest', env, { runner: 'dist' });
    try {
      for (const app of [ingest, consumer]) {
        expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
        expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/process_cpu_seconds_total/);
      }
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
