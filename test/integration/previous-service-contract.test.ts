// The previous service's wire contract as its own clients use it (a Python `requests` publisher sending
// naive `datetime.now().isoformat()` timestamps; a test suite expecting 422, a JSON array from
// /events, the previous service's /stats groups), and the audit's inputs that were once answered 202 and then
// lost, or wedged ingest. Real ingest app (app.inject) over a real nats-server and PostgreSQL, with a
// real consumer process storing what is published.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { pollUntil } from '../../load/poll.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { startTestStack, type TestStack } from './support.ts';

const MAX_IN_FLIGHT = 4;
let stack: TestStack;
let app: FastifyInstance;

const event = (over: Record<string, unknown> = {}) => ({
  topic: 'previous.contract',
  event_id: randomUUID(),
  timestamp: '2026-11-27T06:00:00.123456',
  source: 'python-requests',
  payload: { n: 1 },
  ...over,
});
const publish = (body: unknown) => app.inject({ method: 'POST', url: '/publish', payload: body as object });
const publishRaw = (payload: string) =>
  app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'application/json' }, payload });
const lastSeq = async () => (await app.nats.jsm.streams.info('EVENTS')).state.last_seq;
const stats = async () => (await app.inject({ url: '/stats' })).json<StatsReply>();
type Stored = {
  id: number;
  topic: string;
  event_id: string;
  timestamp: string;
  source: string | null;
  payload: unknown;
  stream_seq: number;
};

/** Every stored event of a topic, newest first, following the Link header across pages. */
async function storedEvents(topic: string): Promise<Stored[]> {
  const out: Stored[] = [];
  let url: string | undefined = `/events?topic=${topic}&limit=1000`;
  while (url) {
    const res: LightMyRequestResponse = await app.inject({ url });
    expect(res.statusCode).toBe(200);
    out.push(...res.json<Stored[]>());
    url = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link ?? ''))?.[1];
  }
  return out;
}

const eventuallyStored = (topic: string, count: number) =>
  pollUntil(
    () => storedEvents(topic),
    (rows) => rows.length >= count,
    { what: `${count} events of ${topic} stored`, timeoutMs: 20_000 },
  );

beforeAll(async () => {
  stack = await startTestStack();
  await stack.start('consumer');
  app = await buildApp(
    loadIngestConfig({ ...stack.env, MAX_PUBLISH_IN_FLIGHT: String(MAX_IN_FLIGHT), MAX_BATCH_SIZE: '1000', PUBLISH_TIMEOUT_MS: '2000' }),
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

describe("the previous service's publisher", () => {
  it('gets 202 for a naive isoformat() timestamp, stored as UTC with its microseconds', async () => {
    const e = event({ topic: 'previous.naive' });
    const res = await publish(e);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'queued', id: e.event_id, accepted: 1, duplicates: 0 });
    const [stored] = await eventuallyStored('previous.naive', 1);
    expect(stored).toMatchObject({
      topic: 'previous.naive',
      event_id: e.event_id,
      timestamp: '2026-11-27T06:00:00.123456Z',
      source: 'python-requests',
      payload: { n: 1 },
    });
  });

  it('takes "source": null as no source', async () => {
    const e = event({ topic: 'previous.null-source', source: null });
    expect((await publish(e)).statusCode).toBe(202);
    const [stored] = await eventuallyStored('previous.null-source', 1);
    expect(stored).toMatchObject({ event_id: e.event_id, source: null });
  });

  it('stores an offset timestamp normalised to UTC, fractions beyond microseconds truncated', async () => {
    const e = event({ topic: 'previous.offset', timestamp: '2026-01-01T00:30:00.987654321+05:30' });
    expect((await publish(e)).statusCode).toBe(202);
    const [stored] = await eventuallyStored('previous.offset', 1);
    expect(stored!.timestamp).toBe('2025-12-31T19:00:00.987654Z');
  });
});

describe('status codes', () => {
  it.each<[string, string]>([
    ['malformed JSON', '{"topic": "a",'],
    ['an empty body', ''],
    ['an empty object', '{}'],
    ['a missing field', JSON.stringify({ topic: 'a', event_id: 'x' })],
    ['an invalid field', JSON.stringify({ topic: 'a b', event_id: 'x', timestamp: '2026-01-01T00:00:00Z' })],
    ['an empty batch', '[]'],
    ['a batch over the limit', JSON.stringify(Array.from({ length: 1001 }, () => event()))],
    [
      'JSON nested too deep',
      `{"topic":"a","event_id":"x","timestamp":"2026-01-01T00:00:00Z","payload":${'['.repeat(100)}${']'.repeat(100)}}`,
    ],
    ['a JSON string', '"event"'],
  ])('answers 422 with message and errors to %s, and publishes nothing', async (_what, body) => {
    const before = await lastSeq();
    const res = await publishRaw(body);
    expect(res.statusCode).toBe(422);
    const reply = res.json();
    expect(reply.message).toEqual(expect.any(String));
    expect(reply.errors.length).toBeGreaterThan(0);
    for (const e of reply.errors)
      expect(e).toEqual({
        ...(e.index === undefined ? {} : { index: expect.any(Number) }),
        field: expect.any(String),
        message: expect.any(String),
      });
    expect(await lastSeq()).toBe(before);
  });

  it('answers malformed JSON with one error whose field is ""', async () => {
    expect((await publishRaw('{nope')).json().errors).toEqual([{ field: '', message: expect.stringMatching(/not valid JSON/) }]);
  });

  it('keeps 400 for query-string errors on GET routes, and 415, 405, 404 as they were', async () => {
    expect((await app.inject({ url: '/events?limit=abc' })).statusCode).toBe(400);
    expect(
      (await app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'text/plain' }, payload: 'x' })).statusCode,
    ).toBe(415);
    expect((await app.inject({ url: '/publish' })).statusCode).toBe(405);
    expect((await app.inject({ url: '/nowhere' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/' })).json()).toMatchObject({ status: 'alive' });
  });
});

describe('nothing answered 202 is lost; no input wedges ingest', () => {
  it(`refuses ${2 * MAX_IN_FLIGHT} event_ids with line breaks (MAX_PUBLISH_IN_FLIGHT=${MAX_IN_FLIGHT}); a valid event then gets 202 within a second`, async () => {
    const before = await lastSeq();
    for (let i = 0; i < 2 * MAX_IN_FLIGHT; i++) {
      const res = await publish(event({ event_id: `bad-${i}\r\nX-Injected: 1` }));
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toEqual([{ field: 'event_id', message: expect.stringMatching(/control characters/) }]);
    }
    const started = Date.now();
    const ok = await publish(event());
    expect(ok.statusCode).toBe(202);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
    expect(await lastSeq()).toBe(before + 1);
  });

  it('publishes nothing of a batch in which one event_id holds a control character', async () => {
    const before = await lastSeq();
    const res = await publish([event(), event({ event_id: 'ok\u0000' }), event()]);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ index: 1, field: 'event_id', message: expect.any(String) }]);
    expect(await lastSeq()).toBe(before);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a control character in source', { source: 'svc\n' }, 'source'],
    ['a year 0000 timestamp', { timestamp: '0000-12-31T23:00:00Z' }, 'timestamp'],
    ['a timestamp that leaves year 9999 in UTC', { timestamp: '9999-12-31T23:00:00-23:59' }, 'timestamp'],
    ['an unpaired surrogate in event_id', { event_id: 'id-\ud800' }, 'event_id'],
    ['an unpaired surrogate in source', { source: '\udfff' }, 'source'],
    ['an unpaired surrogate in a payload value', { payload: { a: 'x\ud800' } }, 'payload.a'],
    ['an unpaired surrogate in a payload key', { payload: { '\ud800': 1 } }, 'payload'],
  ])('refuses %s with 422 naming the field, and stores nothing', async (_what, over, field) => {
    const before = await lastSeq();
    const res = await publish(event(over));
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field, message: expect.any(String) }]);
    expect(await lastSeq()).toBe(before);
  });

  it('refuses a payload number that overflows an IEEE double (it would be stored as null)', async () => {
    const res = await publishRaw(`{"topic":"previous.inf","event_id":"x","timestamp":"2026-01-01T00:00:00Z","payload":{"n":-1e400}}`);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: 'payload.n', message: expect.stringMatching(/IEEE double/) }]);
  });

  it('stores an offset of +23:59 normalised, instead of dead-lettering it', async () => {
    const e = event({ topic: 'previous.far-offset', timestamp: '2026-11-27T00:00:00+23:59' });
    expect((await publish(e)).statusCode).toBe(202);
    const [stored] = await eventuallyStored('previous.far-offset', 1);
    expect(stored!.timestamp).toBe('2026-11-26T00:01:00Z');
    expect((await stats()).dead_lettered).toBe(0);
  });

  it('keeps "order-42 " and "order-42" apart in every layer', async () => {
    const topic = 'previous.spaces';
    const ids = ['order-42', 'order-42 ', ' order-42', 'order-42\u00a0'];
    for (const id of ids) expect((await publish(event({ topic, event_id: id }))).json()).toMatchObject({ accepted: 1, duplicates: 0 });
    const stored = await eventuallyStored(topic, ids.length);
    expect(stored.map((e) => e.event_id).sort()).toEqual([...ids].sort());
  });

  it('counts a repeat within one request as a duplicate and stores the event once', async () => {
    const topic = 'previous.repeat';
    const before = await stats();
    const a = event({ topic });
    const res = await publish([a, event({ topic }), { ...a, payload: { other: true } }, a]);
    expect(res.json()).toEqual({ status: 'queued', accepted: 4, duplicates: 2 });
    const stored = await eventuallyStored(topic, 2);
    expect(stored).toHaveLength(2);
    expect(stored.find((e) => e.event_id === a.event_id)?.payload).toEqual(a.payload);
    const after = await stats();
    expect(after.received - before.received).toBe(4);
    expect(after.duplicates_by_layer.broker - before.duplicates_by_layer.broker).toBe(2);
    expect(after.topics[topic]).toEqual({ unique_processed: 2, duplicates_db: 0, duplicates_broker: 2 });
  });

  it('treats any two event_ids that differ in any character as two events (property, arbitrary Unicode)', async () => {
    const storable = (s: string) =>
      s.length > 0 && s.length <= 255 && s.isWellFormed() && [...s].every((c) => c > '\u001f' && c !== '\u007f');
    const base = fc.sample(fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter(storable), { numRuns: 150, seed: 20261127 });
    // Near-collisions that a header, a trim or a normalisation step would merge.
    const variants = base.slice(0, 30).flatMap((s) => [`${s} `, ` ${s}`, s.normalize('NFD'), s.normalize('NFC'), `${s}\u200b`]);
    const ids = [...new Set([...base, ...variants].filter(storable))];
    const topic = 'previous.unicode';
    const events = ids.map((event_id) => event({ topic, event_id }));
    for (let i = 0; i < events.length; i += 100) {
      expect((await publish(events.slice(i, i + 100))).json()).toMatchObject({ duplicates: 0 });
    }
    const stored = await eventuallyStored(topic, ids.length);
    expect(stored.map((e) => e.event_id).sort()).toEqual([...ids].sort());
    // And the broker knows each of them: every re-send is a duplicate of exactly itself.
    for (let i = 0; i < events.length; i += 100) {
      const chunk = events.slice(i, i + 100);
      expect((await publish(chunk)).json()).toMatchObject({ accepted: chunk.length, duplicates: chunk.length });
    }
  });
});

describe('GET /stats', () => {
  it("carries the previous service's three groups, equal to the flat fields", async () => {
    const s = await stats();
    expect(s.uptime_stats).toEqual({
      received_api: s.received,
      unique_processed: s.unique_processed,
      duplicate_dropped: s.duplicate_dropped,
    });
    expect(s.performance_metrics).toEqual({
      throughput_eps: s.throughput_eps,
      avg_latency_ms: s.avg_latency_ms,
      duplicate_rate_percent: s.duplicate_rate_percent,
      uptime_seconds: s.uptime_seconds,
    });
    expect(s.system_state).toEqual({ database_rows: s.database_rows, queue_depth: s.queue_depth });
  });
});
