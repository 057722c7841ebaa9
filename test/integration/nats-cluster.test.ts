// Duplicates on a 3-node JetStream cluster, where a Nats-Msg-Id still being replicated is answered
// "duplicate message id is in process" (409, err_code 10158) instead of a duplicate ack. A 202 must
// still mean stored, and a copy must still be counted as a duplicate, never answered 503 because
// its twin was in flight. Real 3-node nats-server cluster, real consumer and PostgreSQL.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { waitForStats } from '../../load/client.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { startLocalStack, type LocalStack } from '../../scripts/lib/stack.ts';

let stack: LocalStack;
let app: FastifyInstance;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  stack = await startLocalStack(
    { SHUTDOWN_TIMEOUT_MS: '10000', STREAM_REPLICAS: '3' },
    { stopSignal: 'SIGKILL', natsNodes: 3, appLogs: 'files' },
  );
  await stack.start('consumer');
  // Two ingest replicas, each on its own connection (as two pods would be), so copies of one event
  // race each other through different clients.
  for (let i = 0; i < 2; i++) {
    const a = await buildApp(loadIngestConfig({ ...stack.env, PUBLISH_TIMEOUT_MS: '5000' }), { loggerInstance: pino({ level: 'silent' }) });
    await a.ready();
    apps.push(a);
  }
  app = apps[0]!;
});

afterAll(async () => {
  for (const a of apps) await a.close();
  await stack?.stop();
});

const event = (topic: string, id = randomUUID()) => ({ topic, event_id: id, timestamp: '2026-11-27T06:00:00.123456' });

it('answers a batch holding the same event twice with 202 and one duplicate', async () => {
  const e = event('cluster.batch');
  const res = await app.inject({ method: 'POST', url: '/publish', payload: [e, event('cluster.batch'), e] });
  expect(res.statusCode).toBe(202);
  expect(res.json()).toEqual({ status: 'queued', accepted: 3, duplicates: 1 });
});

it('answers every concurrent copy of an event with 202, stores it once, counts the rest as duplicates', async () => {
  const topic = 'cluster.race';
  const ids = Array.from({ length: 20 }, () => randomUUID());
  const copies = 8;
  const replies = await Promise.all(
    ids.flatMap((id) =>
      Array.from({ length: copies }, (_, i) =>
        apps[i % apps.length]!.inject({ method: 'POST', url: '/publish', payload: event(topic, id) }),
      ),
    ),
  );
  const statuses = replies.map((r) => r.statusCode);
  expect(statuses.filter((s) => s !== 202)).toEqual([]);
  const duplicates = replies.reduce((n, r) => n + r.json<{ duplicates: number }>().duplicates, 0);
  expect(duplicates).toBe(ids.length * (copies - 1));
  const s = await waitForStats(
    await listen(app),
    (x) => (x.topics[topic]?.unique_processed ?? 0) >= ids.length && x.queue_depth === 0,
    60_000,
  );
  expect(s.topics[topic]).toEqual({ unique_processed: ids.length, duplicates_db: 0, duplicates_broker: ids.length * (copies - 1) });
});

/** The app on a loopback port (waitForStats speaks HTTP). */
async function listen(a: FastifyInstance): Promise<string> {
  if (!a.server.listening) await a.listen({ port: 0, host: '127.0.0.1' });
  const addr = a.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}
