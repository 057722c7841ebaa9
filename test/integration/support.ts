import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, removeDir, startApp, startNats, startPostgres, type AppProcess, type NatsServer, type Postgres } from '../../scripts/lib/services.ts';

export interface TestStack {
  nats: NatsServer;
  pg: Postgres;
  env: Record<string, string>;
  apps: AppProcess[];
  start(app: 'ingest' | 'consumer', extraEnv?: Record<string, string>): Promise<AppProcess>;
  stop(): Promise<void>;
}

/**
 * Real nats-server and PostgreSQL on free ports in a temp dir, schema migrated. Apps started
 * through `start()` run the compiled dist/ (what the image runs) and are stopped with the stack.
 */
export async function startTestStack(env: Record<string, string> = {}): Promise<TestStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-test-'));
  const [nats, pg] = await Promise.all([startNats({ dir: path.join(dir) }), startPostgres()]);
  migrate(pg.url);
  const stack: TestStack = {
    nats,
    pg,
    env: { NATS_URL: nats.url, DATABASE_URL: pg.url, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: '10000', ...env },
    apps: [],
    async start(app, extraEnv = {}) {
      const p = await startApp(app, { ...stack.env, PORT: '0', ...extraEnv }, { runner: 'dist' });
      stack.apps.push(p);
      return p;
    },
    async stop() {
      await Promise.all(stack.apps.map((a) => a.stop('SIGKILL')));
      await Promise.all([nats.stop(), pg.stop()]);
      removeDir(dir);
    },
  };
  return stack;
}

export interface Stats {
  received: number;
  unique_processed: number;
  duplicate_dropped: number;
  duplicate_rate_percent: number;
  duplicates_by_layer: { broker: number; database: number };
  database_rows: number;
  queue_depth: number;
  dead_lettered: number;
  topics: Record<string, { unique_processed: number; duplicates_db: number; duplicates_broker: number }>;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
}
