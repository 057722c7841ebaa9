// The read paths stay cheap under hostile use: /stats costs the same whatever the number of topics a
// publisher invents, and /events holds a bounded amount of memory per request, against a real
// nats-server and PostgreSQL (pg_stat_statements counts the queries; a subscription on the
// JetStream API subjects counts the NATS requests; /proc gives the ingest process's peak RSS).
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { writeTopicCounters as writeTopicCountersInto } from '../../scripts/lib/topic-counters.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let app: FastifyInstance;
let nc: NatsConnection;
let db: pg.Client;

beforeAll(async () => {
  stack = await startTestStack({}, { shared_preload_libraries: 'pg_stat_statements' });
  // The consumer creates the streams (ingest only uses them), then stops: its own polling would
  // show up in the counts below.
  await (await stack.start('consumer')).stop();
  db = new pg.Client({ connectionString: stack.pg.url });
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  nc = await connect({ servers: stack.nats.url });
  app = await buildApp(loadIngestConfig(stack.env), { loggerInstance: pino({ level: 'silent' }) });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await nc?.close();
  await db?.end();
  await stack?.stop();
});

const writeTopicCounters = (from: number, to: number) => writeTopicCountersInto(db, nc, 'EVENTS', 'cost.t', from, to);

/** What one GET /stats cost: NATS requests to the JetStream API, and statements PostgreSQL ran. */
async function costOfStats(): Promise<{ nats: number; queries: number; bytes: number; ms: number; stats: StatsReply }> {
  let natsRequests = 0;
  const spy = nc.subscribe('$JS.API.>', { callback: () => void natsRequests++ });
  await nc.flush();
  await db.query('SELECT pg_stat_statements_reset()');
  const started = performance.now();
  const res = await app.inject({ url: '/stats' });
  const ms = performance.now() - started;
  await nc.flush();
  spy.unsubscribe();
  expect(res.statusCode).toBe(200);
  const { rows } = await db.query<{ calls: string }>(
    `SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements
     WHERE query NOT ILIKE '%pg_stat_statements%' AND query !~* '^\\s*(BEGIN|COMMIT|SELECT \\$1)\\s*$'`,
  );
  return { nats: natsRequests, queries: Number(rows[0]!.calls), bytes: Buffer.byteLength(res.body), ms, stats: res.json() };
}

describe('GET /stats', () => {
  it('makes the same number of NATS requests and queries with 10 topics and with 10,000; its reply stays under 64 KiB', async () => {
    await writeTopicCounters(0, 10);
    const few = await costOfStats();
    await writeTopicCounters(10, 10_000);
    await costOfStats(); // warm: the first call after a bulk insert pays for PostgreSQL's statistics
    const many = await costOfStats();
    expect(many.stats.topic_count).toBe(10_000);
    expect(many.nats).toBe(few.nats);
    expect(many.queries).toBe(few.queries);
    expect(many.nats).toBeLessThanOrEqual(5);
    expect(many.queries).toBeLessThanOrEqual(3);
    expect(many.bytes).toBeLessThan(64 * 1024);
    // The busiest topics are the ones listed; totals cover every topic.
    expect(Object.keys(many.stats.topics)).toHaveLength(100);
    expect(many.stats.topics['cost.t9999']).toEqual({ unique_processed: 9999, duplicates_db: 0, duplicates_broker: 1 });
    expect(many.stats.unique_processed).toBe((9999 * 10_000) / 2);
    expect(many.stats.database_rows).toBe(many.stats.unique_processed);
    expect(many.stats.duplicates_by_layer.broker).toBe(10_000);
    console.log(
      `/stats with 10,000 topics: ${many.nats} NATS requests, ${many.queries} queries, ${many.bytes} bytes, ${many.ms.toFixed(1)} ms`,
    );
  });

  it('pages through every topic at /stats/topics, by name, with a Link header', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/stats/topics?limit=1000';
    let pages = 0;
    while (url) {
      const res: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      const page = res.json<Array<{ topic: string; unique_processed: number; duplicates_broker: number }>>();
      expect(page.every((t) => t.duplicates_broker === 1)).toBe(true);
      seen.push(...page.map((t) => t.topic));
      url = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link ?? ''))?.[1];
      pages++;
    }
    expect(pages).toBe(10);
    expect(seen).toHaveLength(10_000);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(10_000);
  });
});

describe('GET /events', () => {
  const EVENT_BYTES = 60_000;
  const EVENTS = 1_000;

  it('keeps ingest under 384 MiB with 8 concurrent reads of 1,000 events of 60 KB each; pages end at the byte budget and link to the rest', async () => {
    // Stored directly: this is about the read path. 1,000 × 60 KB = 60 MB of payloads.
    await db.query(
      `INSERT INTO processed_events (topic, event_id, "timestamp", payload, stream_seq, received_at)
       SELECT 'cost.big', 'e' || i, now(), jsonb_build_object('blob', repeat('x', $1::int)), 1000000 + i, now()
       FROM generate_series(1, $2::int) i`,
      [EVENT_BYTES, EVENTS],
    );
    // All 8 served at once (the default lets 4 through): the byte budget alone bounds the memory.
    const ingest = await stack.start('ingest', { EVENTS_MAX_CONCURRENT: '8', EVENTS_MAX_CONCURRENT_PER_CLIENT: '8' });
    const peakRssMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${ingest.proc.pid}/status`, 'utf8'))![1]) / 1024;
    const replies = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await fetch(`${ingest.url}/events?topic=cost.big&limit=1000`);
        return {
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          link: res.headers.get('link'),
          bytes: (await res.arrayBuffer()).byteLength,
        };
      }),
    );
    const peak = peakRssMiB();
    console.log(
      `8 concurrent /events reads: statuses ${replies.map((r) => r.status).join(',')}, largest reply ${Math.max(...replies.map((r) => r.bytes))} bytes, ingest peak RSS ${peak.toFixed(0)} MiB`,
    );
    expect(peak).toBeLessThan(384);
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.bytes).toBeLessThanOrEqual(4 * 1024 * 1024 + EVENT_BYTES);
      expect(r.link).toMatch(/^<\/events\?topic=cost\.big&limit=1000&before=\d+>; rel="next"$/);
    }

    // Following the links returns every event once, newest first.
    const ids: string[] = [];
    let url: string | undefined = `/events?topic=cost.big&limit=1000`;
    while (url) {
      const res = await fetch(ingest.url + url);
      expect(res.status).toBe(200);
      ids.push(...((await res.json()) as Array<{ event_id: string }>).map((e) => e.event_id));
      url = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
    }
    expect(ids).toHaveLength(EVENTS);
    expect(ids[0]).toBe(`e${EVENTS}`);
    expect(new Set(ids).size).toBe(EVENTS);
  });

  it('counts a read until its reply has left the process: a client that does not read keeps its slot', async () => {
    const limited = await buildApp(loadIngestConfig({ ...stack.env, EVENTS_MAX_CONCURRENT: '1' }), {
      loggerInstance: pino({ level: 'silent' }),
    });
    await limited.listen({ port: 0, host: '127.0.0.1' });
    const { port } = limited.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    const stalled = net.connect(port, '127.0.0.1');
    try {
      // The reply's first bytes arrive (its query is over), then this client stops reading with
      // ~4 MiB of reply still to come: more than the kernel's buffers take.
      await new Promise<void>((resolve) => {
        stalled.once('data', () => {
          stalled.pause();
          resolve();
        });
        stalled.write(`GET /events?topic=cost.big&limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
      const meanwhile = await fetch(`${base}/events?topic=cost.big&limit=1`);
      expect(meanwhile.status).toBe(503);
      stalled.destroy();
      await expect.poll(async () => (await fetch(`${base}/events?topic=cost.big&limit=1`)).status, { timeout: 5_000 }).toBe(200);
    } finally {
      stalled.destroy();
      await limited.close();
    }
  });

  it(`answers 503 with Retry-After beyond EVENTS_MAX_CONCURRENT reads at once`, async () => {
    const limited = await buildApp(loadIngestConfig({ ...stack.env, EVENTS_MAX_CONCURRENT: '1' }), {
      loggerInstance: pino({ level: 'silent' }),
    });
    try {
      const [a, b] = await Promise.all([
        limited.inject({ url: '/events?topic=cost.big&limit=1000' }),
        limited.inject({ url: '/events?topic=cost.big&limit=1000' }),
      ]);
      expect([a.statusCode, b.statusCode].sort()).toEqual([200, 503]);
      const refused = a.statusCode === 503 ? a : b;
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json().message).toMatch(/EVENTS_MAX_CONCURRENT/);
      // Once they are done, reads are served again.
      expect((await limited.inject({ url: '/events?topic=cost.big&limit=1' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
