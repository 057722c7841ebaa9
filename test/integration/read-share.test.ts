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
  // 1,000 events of 60 KB: a page of limit=1000 is 60 MB, more than the kernel's buffers take on
  // loopback (Linux 6.18 lets a receive buffer grow to 32 MiB, plus 4 MiB of send buffer).
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
    loadIngestConfig({ ...stack.env, AUTH_READ_TOKENS: TOKENS.join(','), EVENTS_MAX_BYTES: String(64 * 1024 * 1024), ...env }),
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
    s.once('data', (d: Buffer) => {
      s.pause();
      s.unshift(d); // read again by drain()
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
      EVENTS_WRITE_TIMEOUT_MS: '15000',
    });
    const stalled: net.Socket[] = [];
    try {
      // Four clients that stop reading hold every slot (the deadline is far above the seconds a 60 MB
      // page takes PostgreSQL on a busy machine, which count against it) ...
      for (const t of TOKENS.slice(0, 4)) stalled.push(await stalledReader(port, t));
      const allStalled = Date.now();
      expect((await read(base, TOKENS[4]!)).status).toBe(503);
      // ... until their replies' deadline: then they are cut off, and others are served again.
      await expect.poll(async () => (await read(base, TOKENS[4]!)).status, { timeout: 30_000, interval: 250 }).toBe(200);
      expect(Date.now() - allStalled).toBeLessThan(20_000);
      await new Promise((r) => setTimeout(r, Math.max(0, allStalled + 15_500 - Date.now())));
      // Each stalled reply was aborted: read now, it ends before its Content-Length.
      for (const outcome of await Promise.all(stalled.map(drain))) expect(outcome).toEqual({ ended: true, complete: false });
    } finally {
      for (const s of stalled) s.destroy();
      await app.close();
    }
  }, 60_000);
});

/** Reads what is left of a stalled reply: whether the connection ended, and whether the body was whole. */
function drain(s: net.Socket): Promise<{ ended: boolean; complete: boolean }> {
  return new Promise((resolve) => {
    let received = 0;
    let head = '';
    let length = Infinity;
    let bodyBytes = 0;
    const t = setTimeout(() => finish(false), 10_000);
    const finish = (ended: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve({ ended, complete: bodyBytes >= length });
    };
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (length === Infinity) {
        head += d.toString('latin1', 0, Math.min(d.length, 4096));
        const m = /content-length: (\d+)/i.exec(head);
        const end = head.indexOf('\r\n\r\n');
        if (m && end >= 0) {
          length = Number(m[1]);
          bodyBytes = received - end - 4;
        }
      } else bodyBytes += d.length;
      if (bodyBytes >= length) finish(false);
    });
    s.once('end', () => finish(true));
    s.once('close', () => finish(true));
    s.resume();
  });
}
