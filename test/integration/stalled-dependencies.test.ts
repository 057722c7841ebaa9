// A dependency that stops answering (a frozen process, a partitioned node: the TCP connection stays
// up, nothing comes back) is told apart from a slow one within the deadlines the README gives:
// /events and /stats answer 503 within 5 s without PostgreSQL, /readyz 503 within 1 s without NATS.
// The servers are frozen with SIGSTOP (and thawed with SIGCONT), the way a hung host looks.
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let app: FastifyInstance;

beforeAll(async () => {
  stack = await startTestStack();
  await stack.start('consumer');
  app = await buildApp(loadIngestConfig(stack.env), { loggerInstance: pino({ level: 'silent' }) });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

/** The process and its children (PostgreSQL's backends), from /proc. */
function withChildren(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...children];
}

/** Runs `fn` while the processes are stopped; they are resumed whatever happens. */
async function frozen<T>(pids: number[], fn: () => Promise<T>): Promise<T> {
  for (const p of pids) process.kill(p, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    for (const p of pids) process.kill(p, 'SIGCONT');
  }
}

const timed = async (url: string) => {
  const started = performance.now();
  const res = await app.inject({ url });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], ms: performance.now() - started };
};

describe('a dependency that does not answer', () => {
  it('PostgreSQL frozen: /events and /stats answer 503 + Retry-After within 5 s, on a pooled connection and on a new one', async () => {
    // Both reads warm the pool first: the frozen server then holds idle connections that look alive.
    expect((await timed('/events?limit=1')).status).toBe(200);
    expect((await timed('/stats')).status).toBe(200);
    const replies = await frozen(withChildren(stack.pg.pid()!), async () =>
      // More at once than the pool has connections: some wait for a new one.
      Promise.all(['/events?limit=1', '/stats', '/events?limit=2', '/stats/topics', '/events?limit=3', '/events?limit=4'].map(timed)),
    );
    for (const r of replies) {
      expect(r.status).toBe(503);
      expect(r.retryAfter).toBeDefined();
      expect(r.ms).toBeLessThan(5_000);
    }
    // Thawed: the pool serves again.
    await expect.poll(async () => (await timed('/events?limit=1')).status, { timeout: 10_000 }).toBe(200);
  }, 60_000);

  it('nats-server frozen: /readyz answers 503 within 1 s, and 200 again once it answers', async () => {
    expect((await timed('/readyz')).status).toBe(200);
    const during = await frozen([stack.nats.pid()!], async () => [await timed('/readyz'), await timed('/readyz')]);
    for (const r of during) {
      expect(r.status).toBe(503);
      expect(r.ms).toBeLessThan(1_000);
    }
    await expect.poll(async () => (await timed('/readyz')).status, { timeout: 10_000 }).toBe(200);
  }, 60_000);
});
