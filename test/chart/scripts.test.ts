// The chart's two Node scripts (files/wait-for.cjs, files/helm-test.cjs) run for real here, the way
// the pods run them (`node /scripts/<file>` with the app's directory as working directory), against
// a real PostgreSQL, and against the real ingest + consumer on NATS + PostgreSQL.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { startApp, type AppProcess } from '../../scripts/lib/apps.ts';
import { startNats, type NatsServer } from '../../scripts/lib/nats-server.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { CHART, ROOT } from './helm.ts';
import { sleep } from '../../shared/retry.ts';

const WAIT_FOR = path.join(CHART, 'files/wait-for.cjs');
const HELM_TEST = path.join(CHART, 'files/helm-test.cjs');

interface Run {
  code: Promise<number | null>;
  output: () => string;
  kill: () => void;
}
function run(script: string, env: Record<string, string>): Run {
  const proc = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return {
    code: new Promise((resolve) => proc.once('exit', (c) => resolve(c))),
    output: () => out,
    kill: () => proc.kill('SIGKILL'),
  };
}

describe('wait-for.cjs', () => {
  it('gives up after WAIT_TIMEOUT_SECONDS when PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const r = run(WAIT_FOR, { WAIT_FOR: 'postgres', WAIT_TIMEOUT_SECONDS: '1', DATABASE_URL: `postgresql://u:p@127.0.0.1:${port}/db` });
    expect(await r.code).toBe(1);
    expect(r.output()).toMatch(/wait-for postgres: timed out/);
  });

  describe('against PostgreSQL', () => {
    let pg: Postgres;
    beforeAll(async () => {
      pg = await startPostgres();
    });
    afterAll(async () => {
      await pg?.remove();
    });

    it('postgres mode returns once the server answers', async () => {
      const r = run(WAIT_FOR, { WAIT_FOR: 'postgres', WAIT_TIMEOUT_SECONDS: '30', DATABASE_URL: pg.url });
      expect(await r.code).toBe(0);
      expect(r.output()).toContain('wait-for postgres: ready');
    });

    it('migrations mode waits until every migration of the image is applied, then returns', async () => {
      const r = run(WAIT_FOR, { WAIT_FOR: 'migrations', WAIT_TIMEOUT_SECONDS: '120', DATABASE_URL: pg.url });
      let exited = false;
      void r.code.then(() => (exited = true));
      await sleep(3000);
      expect(exited, r.output()).toBe(false);
      expect(r.output()).toMatch(/waiting \(missing migrations: \d+_init/);
      migrate(pg.url, ROOT); // what the migration Job does: prisma migrate deploy
      const code = await Promise.race([r.code, sleep(30_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') r.kill();
      expect(code, r.output()).toBe(0);
      expect(r.output()).toContain('wait-for migrations: ready');
    });
  });
});

describe('helm-test.cjs', () => {
  it('fails when the event never shows up in GET /events', async () => {
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/publish') {
        res.statusCode = 202;
        res.end(JSON.stringify({ status: 'queued', id: 'x' }));
      } else res.end(JSON.stringify([]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const r = run(HELM_TEST, { INGEST_URL: `http://127.0.0.1:${port}`, TEST_TIMEOUT_SECONDS: '2' });
      expect(await r.code).toBe(1);
      expect(r.output()).toMatch(/helm test failed: event helm-test-\S+ not returned by GET \/events/);
    } finally {
      server.close();
    }
  });

  it('fails when POST /publish is not accepted', async () => {
    const server = http.createServer((_req, res) => {
      res.statusCode = 503;
      res.end('{"error":"unavailable"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const r = run(HELM_TEST, { INGEST_URL: `http://127.0.0.1:${port}`, TEST_TIMEOUT_SECONDS: '2' });
      expect(await r.code).toBe(1);
      expect(r.output()).toContain('POST /publish: expected 202, got 503');
    } finally {
      server.close();
    }
  });

  describe('against the real ingest and consumer', () => {
    let dir: string;
    let nats: NatsServer;
    let pg: Postgres;
    const apps: AppProcess[] = [];
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-chart-test-'));
      [nats, pg] = await Promise.all([startNats({ dir }), startPostgres()]);
      migrate(pg.url, ROOT);
      const env = { NATS_URL: nats.url, DATABASE_URL: pg.url, LOG_LEVEL: 'warn', PORT: '0' };
      // The sources, not dist/: this must not depend on a fresh build.
      // The consumer first: it creates the streams ingest's readiness waits for.
      apps.push(await startApp('consumer', env, { runner: 'tsx', cwd: ROOT, log: 'ignore' }));
      apps.unshift(await startApp('ingest', env, { runner: 'tsx', cwd: ROOT, log: 'ignore' }));
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop('SIGKILL')));
      await Promise.all([nats?.stop(), pg?.remove()]);
      if (dir) removeDir(dir);
    });

    it('publishes one event and reads it back through /events', async () => {
      const r = run(HELM_TEST, { INGEST_URL: apps[0]!.url, TEST_TIMEOUT_SECONDS: '60' });
      expect(await r.code, r.output()).toBe(0);
      expect(r.output()).toMatch(/published helm-test-\S+: \{"status":"queued"/);
      expect(r.output()).toMatch(/read back helm-test-\S+ through GET \/events: ok/);
    });
  });
});
