// /events against clients that stop reading: a client's reads are capped (EVENTS_MAX_CONCURRENT_PER_CLIENT,
// keyed like the rate limit: the token, else the address), and a reply that has not left the process
// within EVENTS_WRITE_TIMEOUT_MS is aborted and its slot freed. Real ingest over real PostgreSQL; the
// stalled clients are raw sockets that read the first bytes of their reply, then nothing.
import net, { type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
const TOKENS = ['reader-a-0123456789', 'reader-b-0123456789', 'reader-c-0123456789', 'reader-d-0123456789', 'reader-e-0123456789'];

beforeAll(async () => {
  stack = await startTestStack();
  await (await stack.start('consumer')).stop();
  const db = new pg.Client({ connectionString: stack.pg.url });
  await db.connect();
  // 1,000 events of 60 KB: a page of limit=1000 is EVENTS_MAX_BYTES, far more than the kernel's buffers take.
  await db.query(
    `INSERT INTO processed_events (topic, event_id, "timestamp", payload, stream_seq, received_at)
     SELECT 'share.big', 'e' || i, now(), jsonb_build_object('blob', repeat('x', 60000)), i, now()
     FROM generate_series(1, 1000) i`,
  );
  await db.end();
});
afterAll(async () => {
  await stack?.stop();
});

async function ingest(env: Record<string, string>): Promise<{ app: FastifyInstance; base: string; port: number }> {
  const app = await buildApp(
    loadIngestConfig({ ...stack.env, AUTH_READ_TOKENS: TOKENS.join(','), EVENTS_MAX_BYTES: String(16 * 1024 * 1024), ...env }),
    { loggerInstance: pino({ level: 'silent' }) },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { app, base: `http://127.0.0.1:${port}`, port };
}

/** A client that asks for a big page, reads its first bytes, then stops reading. */
function stalledReader(port: number, token: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('data', (d) => {
      s.pause();
      if (!d.toString('latin1').startsWith('HTTP/1.1 200')) reject(new Error(`not served: ${d.toString('latin1', 0, 200)}`));
      else resolve(s);
    });
    s.write(`GET /events?topic=share.big&limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  });
}

const read = (base: string, token: string) =>
  fetch(`${base}/events?topic=share.big&limit=1`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
    status: r.status,
    message: ((await r.json()) as { message?: string }).message ?? '',
  }));

describe('/events shared between clients', () => {
  it('one client cannot hold every read slot: past its share it gets 503, others are still served', async () => {
    const { app, base, port } = await ingest({ EVENTS_MAX_CONCURRENT: '4', EVENTS_MAX_CONCURRENT_PER_CLIENT: '2' });
    const stalled: net.Socket[] = [];
    try {
      // Four slow readers of one client (one token): two are served, the others refused at once.
      stalled.push(await stalledReader(port, TOKENS[0]!), await stalledReader(port, TOKENS[0]!));
      const third = await read(base, TOKENS[0]!);
      expect(third.status).toBe(503);
      expect(third.message).toMatch(/EVENTS_MAX_CONCURRENT_PER_CLIENT/);
      // Another client is served meanwhile.
      expect((await read(base, TOKENS[1]!)).status).toBe(200);
    } finally {
      for (const s of stalled) s.destroy();
      await app.close();
    }
  }, 30_000);

  it('a reply that has not left within EVENTS_WRITE_TIMEOUT_MS is aborted and its slot freed', async () => {
    const { app, base, port } = await ingest({
      EVENTS_MAX_CONCURRENT: '4',
      EVENTS_MAX_CONCURRENT_PER_CLIENT: '4',
      EVENTS_WRITE_TIMEOUT_MS: '2000',
    });
    const stalled: net.Socket[] = [];
    try {
      // Four clients that stop reading hold every slot ...
      for (const t of TOKENS.slice(0, 4)) stalled.push(await stalledReader(port, t));
      const started = Date.now();
      expect((await read(base, TOKENS[4]!)).status).toBe(503);
      // ... until their replies' deadline: then they are cut off, and others are served again.
      await expect.poll(async () => (await read(base, TOKENS[4]!)).status, { timeout: 8_000, interval: 250 }).toBe(200);
      expect(Date.now() - started).toBeLessThan(5_000);
      for (const s of stalled) expect(s.destroyed || s.readableEnded || (await closedSoon(s))).toBe(true);
    } finally {
      for (const s of stalled) s.destroy();
      await app.close();
    }
  }, 30_000);
});

/** Whether the server closed the socket: resumed, it reaches its end (or an error) within a second. */
function closedSoon(s: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 1_000);
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    s.once('close', done);
    s.once('end', done);
    s.resume();
  });
}
