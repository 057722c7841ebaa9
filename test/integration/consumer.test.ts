// The consumer app in-process (buildConsumer, as ingest's tests use buildApp), over a real
// nats-server and PostgreSQL: its probes and metrics, storing what ingest accepted, a close that
// stores and acks the batches in hand and hands the rest back, and readiness during a PostgreSQL
// outage. The compiled consumer process is covered by the pipeline and fault tests.
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsumer } from '../../apps/consumer/app.ts';
import { buildApp } from '../../apps/ingest/app.ts';
import { sendEvents } from '../../load/client.ts';
import { generateWorkload } from '../../load/workload.ts';
import { loadConsumerConfig, loadIngestConfig } from '../../shared/config.ts';
import { pollUntil } from '../../load/poll.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let ingest: FastifyInstance;
let ingestUrl: string;
let db: pg.Client;
const silent = { loggerInstance: pino({ level: 'silent' }) };
const consumerConfig = () => loadConsumerConfig({ ...stack.env, PORT: '0', BATCH_SIZE: '100', CONSUMER_ACK_WAIT_MS: '2000' });
const stored = async (topic: string) =>
  Number((await db.query('SELECT count(*) AS n FROM processed_events WHERE topic = $1', [topic])).rows[0].n);

const until = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => pollUntil(check, Boolean, { what, timeoutMs });

beforeAll(async () => {
  stack = await startTestStack();
  db = new pg.Client({ connectionString: stack.pg.url });
  // The last test stops PostgreSQL under this client; it is not used after that.
  db.on('error', () => {});
  await db.connect();
});

afterAll(async () => {
  await ingest?.close();
  await db?.end();
  await stack?.stop();
});

describe('buildConsumer', () => {
  it('creates the topology, is ready, serves its metrics, and stores what ingest accepted', async () => {
    const consumer = await buildConsumer(consumerConfig(), silent);
    try {
      await consumer.ready();
      expect((await consumer.inject({ url: '/healthz' })).statusCode).toBe(200);
      expect((await consumer.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
      // Ingest needs the stream the consumer created.
      ingest = await buildApp(loadIngestConfig(stack.env), silent);
      await ingest.listen({ port: 0, host: '127.0.0.1' });
      ingestUrl = `http://127.0.0.1:${(ingest.server.address() as { port: number }).port}`;
      const w = generateWorkload({ events: 500, duplicateRate: 0.3, seed: 7, topics: ['consumer.first'] });
      expect((await sendEvents(w.events, { baseUrl: ingestUrl, batchSize: 50, concurrency: 4 })).failed).toBe(0);
      await until('all stored', async () => (await stored('consumer.first')) === w.unique);
      const metrics = (await consumer.inject({ url: '/metrics' })).body;
      expect(metrics).toMatch(new RegExp(`consumer_events_persisted_total\\{service="consumer"\\} ${w.unique}\\b`));
    } finally {
      await consumer.close();
    }
  });

  it('closed mid-stream, it loses nothing and counts nothing twice: a successor stores everything exactly once', async () => {
    const topic = 'consumer.handover';
    const w = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed: 8, topics: [topic] });
    expect((await sendEvents(w.events, { baseUrl: ingestUrl, batchSize: 100, concurrency: 4 })).failed).toBe(0);
    const first = await buildConsumer(consumerConfig(), silent);
    await first.ready();
    await until('some stored', async () => (await stored(topic)) > 0);
    // What it holds it stores and acks, or hands back (nak). Messages the server was still sending
    // when it unsubscribed come back after the ack wait (2 s here).
    await first.close();
    const second = await buildConsumer(consumerConfig(), silent);
    try {
      await second.ready();
      await until('all stored', async () => (await stored(topic)) === w.unique);
      // Exact: nothing the first one stored counted again, nothing it held lost.
      const { rows } = await db.query('SELECT unique_processed AS u FROM topic_counters WHERE topic = $1', [topic]);
      expect(Number(rows[0].u)).toBe(w.unique);
    } finally {
      await second.close();
    }
  });

  it('reports PostgreSQL in /readyz while it is down, and is ready again when it is back', async () => {
    const consumer = await buildConsumer(consumerConfig(), silent);
    try {
      await consumer.ready();
      await stack.pg.stop();
      await until('not ready', async () => (await consumer.inject({ url: '/readyz' })).statusCode === 503, 15_000);
      expect((await consumer.inject({ url: '/readyz' })).json()).toEqual({ status: 'not ready', failing: ['postgresql'] });
      await stack.pg.start();
      await until('ready again', async () => (await consumer.inject({ url: '/readyz' })).statusCode === 200, 15_000);
    } finally {
      await consumer.close();
    }
  });
});
