// Upgrading from a release that kept broker-caught duplicates per topic only: the consumer creates
// the total from the per-topic counters, and a new ingest stays out of its Service until then (had
// it counted a duplicate first, the total would have started from that one increment and the
// history would be missing from /stats for good). Real nats-server, PostgreSQL and consumer.
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadConsumerConfig, loadIngestConfig } from '../../shared/config.ts';
import { brokerDuplicateSubject, ensureTopology } from '../../shared/nats/topology.ts';
import { pollUntil } from '../../load/poll.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let nc: NatsConnection;
let ingest: FastifyInstance;

beforeAll(async () => {
  stack = await startTestStack();
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  await ingest?.close();
  await nc?.close();
  await stack?.stop();
});

it('creates the total from the per-topic counters; a new ingest is not ready before that', async () => {
  // What an older release leaves behind: its topology, and broker duplicates counted per topic only.
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  await ensureTopology(await jetstreamManager(nc), loadConsumerConfig(stack.env), async () => 1, log);
  for (const [topic, n] of [
    ['upgrade.a', 3],
    ['upgrade.b', 2],
  ] as const) {
    const h = headers();
    h.set('Nats-Incr', `+${n}`);
    await nc.request(brokerDuplicateSubject('EVENTS', topic), undefined, { headers: h, timeout: 5_000 });
  }

  ingest = await buildApp(loadIngestConfig(stack.env), { loggerInstance: pino({ level: 'silent' }) });
  await ingest.ready();
  expect((await ingest.inject({ url: '/readyz' })).json()).toEqual({ status: 'not ready', failing: ['counters'] });

  await stack.start('consumer');
  await pollUntil(
    async () => (await ingest.inject({ url: '/readyz' })).statusCode,
    (s) => s === 200,
    { what: 'ingest ready', timeoutMs: 30_000 },
  );
  const s = (await ingest.inject({ url: '/stats' })).json<StatsReply>();
  expect(s.duplicates_by_layer.broker).toBe(5);
});
