// The previous service's 17 API scenarios, against the real ingest app (app.inject) over a real
// nats-server and PostgreSQL, plus the errors the issue adds (413, 415, 503, batches).
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { pollUntil } from '../../load/poll.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let app: FastifyInstance;

const event = (over: Record<string, unknown> = {}) => ({
  topic: 'api.test',
  event_id: randomUUID(),
  timestamp: '2026-11-26T10:00:00Z',
  source: 'vitest',
  payload: { hello: 'world' },
  ...over,
});

const publish = (body: unknown) => app.inject({ method: 'POST', url: '/publish', payload: body as object });

const eventually = <T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000) =>
  pollUntil(fn, ok, { what: 'the expected answer', timeoutMs });

beforeAll(async () => {
  stack = await startTestStack();
  await stack.start('consumer');
  app = await buildApp(
    loadIngestConfig({
      ...stack.env,
      MAX_BATCH_SIZE: '50',
      BODY_LIMIT_BYTES: String(256 * 1024),
      MAX_EVENT_BYTES: '4096',
      PUBLISH_TIMEOUT_MS: '1000',
    }),
    {
      loggerInstance: pino({ level: 'silent' }),
    },
  );
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

describe('validation (scenarios of the previous service)', () => {
  for (const field of ['topic', 'event_id', 'timestamp'] as const) {
    it(`rejects an event without ${field}, naming the field`, async () => {
      const body = event();
      delete (body as Record<string, unknown>)[field];
      const res = await publish(body);
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toContainEqual({ field, message: 'is required' });
      expect(res.json().message).toContain(field);
    });
  }

  it('rejects invalid JSON with 422, one error for the body itself', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/publish',
      headers: { 'content-type': 'application/json' },
      payload: '{"topic": "a",',
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/JSON/i);
    expect(res.json().errors).toEqual([{ field: '', message: expect.stringMatching(/JSON/) }]);
  });

  it('rejects an empty body with 422', async () => {
    const res = await app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/empty/i);
  });

  it('rejects a topic over 255 characters', async () => {
    const res = await publish(event({ topic: 'a'.repeat(256) }));
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toBe('topic');
  });

  it.each([['orders.*'], ['orders.>'], ['has space'], ['a..b'], ['.a'], ['']])('rejects the topic %j', async (topic) => {
    const res = await publish(event({ topic }));
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toBe('topic');
  });

  it.each([['2026-11-26 10:00:00'], ['2026-11-26T10:00'], ['yesterday'], ['2026-13-01T00:00:00Z']])(
    'rejects the timestamp %j',
    async (timestamp) => {
      const res = await publish(event({ timestamp }));
      expect(res.statusCode).toBe(422);
      expect(res.json().errors[0].field).toBe('timestamp');
    },
  );

  it('rejects wrong types and unknown fields, one error per field', async () => {
    const res = await publish({ topic: 5, event_id: '', timestamp: '2026-11-26T10:00:00Z', extra: true });
    expect(res.statusCode).toBe(422);
    const fields = res
      .json()
      .errors.map((e: { field: string }) => e.field)
      .sort();
    expect(fields).toEqual(['event_id', 'extra', 'topic']);
  });

  it('rejects a wrong content type with 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(res.statusCode).toBe(415);
  });

  it('rejects a body over the limit with 413', async () => {
    const res = await publish({ events: Array.from({ length: 40 }, () => event({ payload: 'x'.repeat(8_000) })) });
    expect(res.statusCode).toBe(413);
  });

  it('rejects an event over MAX_EVENT_BYTES, naming its payload', async () => {
    const res = await publish(event({ payload: 'x'.repeat(5_000) }));
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0]).toMatchObject({ field: 'payload' });
    expect(res.json().errors[0].message).toMatch(/limit is 4096/);
  });

  it('rejects a NUL character, which PostgreSQL could never store', async () => {
    const res = await publish(event({ payload: { s: 'a\u0000b' } }));
    expect(res.statusCode).toBe(422);
  });
});

describe('publishing', () => {
  it('accepts a valid event with 202 in the format of the previous service, after JetStream stored it', async () => {
    const e = event();
    const res = await publish(e);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'queued', id: e.event_id, accepted: 1, duplicates: 0 });
    const info = await app.nats.jsm.streams.info('EVENTS');
    expect(info.state.last_seq).toBeGreaterThan(0);
  });

  it('accepts a complex nested payload and stores it unchanged', async () => {
    const payload = { a: [1, 2, { b: null, c: 'ü€😀' }], n: 1.5e10, t: true, deep: { x: { y: { z: [] } } } };
    const e = event({ topic: 'api.complex', payload });
    expect((await publish(e)).statusCode).toBe(202);
    const stored = await eventually(
      async () => (await app.inject({ url: '/events?topic=api.complex' })).json(),
      (evs: unknown[]) => evs.length > 0,
    );
    expect(stored[0]).toMatchObject({ topic: 'api.complex', event_id: e.event_id, payload, source: 'vitest' });
  });

  it('accepts an event with only the required fields', async () => {
    const e = { topic: 'api.minimal', event_id: randomUUID(), timestamp: '2026-11-26T10:00:00+02:00' };
    expect((await publish(e)).statusCode).toBe(202);
    const stored = await eventually(
      async () => (await app.inject({ url: '/events?topic=api.minimal' })).json(),
      (evs: unknown[]) => evs.length > 0,
    );
    expect(stored[0]).toMatchObject({ event_id: e.event_id, source: null, payload: null, timestamp: '2026-11-26T08:00:00Z' });
  });

  it('accepts a topic of exactly 255 characters', async () => {
    expect((await publish(event({ topic: `t.${'a'.repeat(253)}` }))).statusCode).toBe(202);
  });

  it('stores the same event_id twice only once; the broker reports the duplicate', async () => {
    const e = event({ topic: 'api.same' });
    expect((await publish(e)).json()).toMatchObject({ accepted: 1, duplicates: 0 });
    expect((await publish(e)).json()).toMatchObject({ accepted: 1, duplicates: 1 });
    const stored = await eventually(
      async () => (await app.inject({ url: '/events?topic=api.same' })).json(),
      (evs: unknown[]) => evs.length > 0,
    );
    expect(stored).toHaveLength(1);
  });

  it('stores the same event_id under another topic as a different event', async () => {
    const id = randomUUID();
    expect((await publish(event({ topic: 'api.one', event_id: id }))).json().duplicates).toBe(0);
    expect((await publish(event({ topic: 'api.two', event_id: id }))).json().duplicates).toBe(0);
    for (const topic of ['api.one', 'api.two']) {
      const evs = await eventually(
        async () => (await app.inject({ url: `/events?topic=${topic}` })).json(),
        (e: unknown[]) => e.length > 0,
      );
      expect(evs).toHaveLength(1);
    }
  });

  it('accepts a batch as an array or as {"events": [...]} and counts broker duplicates', async () => {
    const batch = [event({ topic: 'api.batch' }), event({ topic: 'api.batch' })];
    expect((await publish(batch)).json()).toEqual({ status: 'queued', accepted: 2, duplicates: 0 });
    expect((await publish({ events: [...batch, event({ topic: 'api.batch' })] })).json()).toEqual({
      status: 'queued',
      accepted: 3,
      duplicates: 2,
    });
  });

  it('publishes nothing of a batch with one bad event and names its index and field', async () => {
    const before = (await app.nats.jsm.streams.info('EVENTS')).state.last_seq;
    const res = await publish([
      event({ topic: 'api.allornothing' }),
      event({ topic: 'api.allornothing', timestamp: 'now' }),
      event({ topic: 'api.allornothing' }),
    ]);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ index: 1, field: 'timestamp', message: expect.stringMatching(/RFC 3339/) }]);
    expect((await app.nats.jsm.streams.info('EVENTS')).state.last_seq).toBe(before);
  });

  it('refuses an empty batch and a batch over MAX_BATCH_SIZE', async () => {
    expect((await publish([])).statusCode).toBe(422);
    const res = await publish(Array.from({ length: 51 }, () => event()));
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/limit is 50/);
  });
});

describe('reading', () => {
  it('lists events newest first as a JSON array, filtered by topic, paged by a Link header', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) expect((await publish(event({ topic: 'api.page', event_id: id }))).statusCode).toBe(202);
    await eventually(
      async () => (await app.inject({ url: '/events?topic=api.page&limit=1000' })).json().length,
      (n: number) => n === 5,
    );
    const first = await app.inject({ url: '/events?topic=api.page&limit=2' });
    expect(first.json().map((e: { event_id: string }) => e.event_id)).toEqual([ids[4], ids[3]]);
    const seqs = first.json().map((e: { stream_seq: number }) => e.stream_seq);
    expect(first.headers.link).toBe(`</events?topic=api.page&limit=2&before=${seqs[1]}>; rel="next"`);
    const nextUrl = /^<([^>]+)>; rel="next"$/.exec(String(first.headers.link))![1]!;
    const second = await app.inject({ url: nextUrl });
    expect(second.json().map((e: { event_id: string }) => e.event_id)).toEqual([ids[2], ids[1]]);
    const third = await app.inject({ url: /^<([^>]+)>/.exec(String(second.headers.link))![1]! });
    expect(third.json().map((e: { event_id: string }) => e.event_id)).toEqual([ids[0]]);
    expect(third.headers.link).toBeUndefined();
    const item = third.json()[0];
    expect(Object.keys(item).sort()).toEqual([
      'event_id',
      'id',
      'payload',
      'persisted_at',
      'received_at',
      'source',
      'stream_seq',
      'timestamp',
      'topic',
    ]);
    expect(Number.isInteger(item.id)).toBe(true);
    const all = (await app.inject({ url: '/events?limit=1000' })).json();
    expect(new Set(all.map((e: { topic: string }) => e.topic)).size).toBeGreaterThan(1);
  });

  it.each([['limit=0'], ['limit=1001'], ['limit=abc'], ['before=-1'], ['topic=a*'], ['bogus=1']])(
    'rejects /events?%s with 400',
    async (qs) => {
      const res = await app.inject({ url: `/events?${qs}` });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/querystring/);
    },
  );

  // Strings the validator would coerce to ±Infinity (past minimum and maximum, see query-integer.ts):
  // refused as not decimal digits, or, when they are digits, as not finite.
  it.each([
    ['/events?limit=1e999', 'limit', 'be an integer in decimal digits'],
    ['/events?limit=Infinity', 'limit', 'be an integer in decimal digits'],
    ['/events?limit=-Infinity', 'limit', 'be an integer in decimal digits'],
    ['/events?before=Infinity', 'before', 'be an integer in decimal digits'],
    ['/events?before=1e309', 'before', 'be an integer in decimal digits'],
    ['/stats/topics?limit=Infinity', 'limit', 'be an integer in decimal digits'],
    [`/events?limit=${'9'.repeat(400)}`, 'limit', 'be a finite number'],
    [`/events?before=${'9'.repeat(400)}`, 'before', 'be a finite number'],
  ])('rejects %s with 400 naming %s', async (url, field, rule) => {
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe(`querystring ${field} must ${rule}`);
  });

  it('reports /stats with exact counts', async () => {
    const stats = async () => (await app.inject({ url: '/stats' })).json();
    const settle = () => eventually(stats, (x: any) => x.queue_depth === 0);
    const before = await settle();
    for (const f of [
      'received',
      'unique_processed',
      'duplicate_dropped',
      'duplicate_rate_percent',
      'throughput_eps',
      'avg_latency_ms',
      'database_rows',
      'queue_depth',
      'uptime_seconds',
    ]) {
      expect(before).toHaveProperty(f);
    }
    // Its own events, whatever earlier tests published: 3 new ones, one of them sent twice.
    const a = event({ topic: 'api.stats' });
    expect((await publish([a, event({ topic: 'api.stats' }), event({ topic: 'api.stats' })])).statusCode).toBe(202);
    expect((await publish(a)).json()).toMatchObject({ duplicates: 1 });
    const settled = await eventually(stats, (x: any) => x.queue_depth === 0 && x.unique_processed === before.unique_processed + 3);
    expect(settled.received - before.received).toBe(4);
    expect(settled.duplicates_by_layer.broker - before.duplicates_by_layer.broker).toBe(1);
    expect(settled.unique_processed).toBe(settled.database_rows);
    expect(settled.received).toBe(settled.unique_processed + settled.duplicate_dropped);
    expect(settled.topics['api.stats']).toEqual({ unique_processed: 3, duplicates_db: 0, duplicates_broker: 1 });
    expect(settled.latency_ms.p99).toBeGreaterThanOrEqual(settled.latency_ms.p50);
    // The previous service's groups beside these: test/integration/previous-service-contract.test.ts.
  });
});

describe('HTTP surface', () => {
  it('answers the root like the previous service', async () => {
    expect((await app.inject({ url: '/' })).json()).toMatchObject({ status: 'alive' });
  });

  it('answers 405 with Allow for a wrong method and 404 for an unknown route', async () => {
    const res = await app.inject({ method: 'GET', url: '/publish' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect((await app.inject({ method: 'DELETE', url: '/stats' })).statusCode).toBe(405);
    const missing = await app.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toContain('/nope');
  });

  it('is live and ready, and exposes Prometheus metrics', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/ingest_events_accepted_total\{service="ingest"\} \d+/);
    expect(metrics.body).toMatch(/http_request_duration_seconds_bucket/);
  });
});

describe('when JetStream is unavailable', () => {
  it('answers 503 with Retry-After (no hang, no 500) and recovers when NATS is back', async () => {
    await stack.nats.stop();
    try {
      const started = Date.now();
      const res = await publish(event({ topic: 'api.outage' }));
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.json().message).toMatch(/retry/i);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await stack.nats.start();
    }
    const res = await eventually(
      () => publish(event({ topic: 'api.outage' })),
      (r) => r.statusCode === 202,
      30_000,
    );
    expect(res.statusCode).toBe(202);
  });
});
