// Hostile input and access control against the real ingest app over real NATS and PostgreSQL: every
// bad request gets a 4xx naming the problem, nothing reaches the stream, and the server stays up.
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/ingest/app.ts';
import { loadIngestConfig } from '../../shared/config.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack;
let app: FastifyInstance;
const PUB = 'pub-token-0123456789';
const READ = 'read-token-0123456789';
const auth = (t: string) => ({ authorization: `Bearer ${t}` });
const ok = () => ({ topic: 'hostile.ok', event_id: randomUUID(), timestamp: '2026-11-26T10:00:00Z' });

const streamSeq = async () => (await app.nats.jsm.streams.info('EVENTS')).state.last_seq;
const post = (payload: string | object, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'application/json', ...auth(PUB), ...headers }, payload });

beforeAll(async () => {
  stack = await startTestStack();
  // Creates the streams (ingest does not).
  await stack.start('consumer');
  app = await buildApp(
    loadIngestConfig({
      ...stack.env,
      AUTH_PUBLISH_TOKENS: `${PUB},both-token-0123456789`,
      AUTH_READ_TOKENS: `${READ},both-token-0123456789`,
      BODY_LIMIT_BYTES: String(512 * 1024),
      MAX_BATCH_SIZE: '100',
      REQUEST_TIMEOUT_MS: '1000',
      RATE_LIMIT_MAX: '100000',
    }),
    { loggerInstance: pino({ level: 'silent' }) },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

describe('hostile input', () => {
  const cases: Array<[string, string | object, Record<string, string>?, number?]> = [
    ['truncated JSON', '{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z"'],
    ['malformed JSON', '{topic: a}'],
    ['JSON with trailing garbage', '{"topic":"a"} xx'],
    ['empty body', ''],
    ['a JSON string', '"just a string"'],
    ['a JSON number', '42'],
    ['null', 'null'],
    ['__proto__ key', '{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z","__proto__":{"admin":true}}'],
    ['constructor.prototype key', '{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z","constructor":{"prototype":{"x":1}}}'],
    ['missing content type', '{}', { 'content-type': '' }, 415],
    ['form content type', 'topic=a', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ['a 10k-char topic', { ...ok(), topic: 'a'.repeat(10_000) }],
    ['a 300-char event_id', { ...ok(), event_id: 'x'.repeat(300) }],
    ['an object as topic', { ...ok(), topic: { $ne: null } }],
    ['an array as event_id', { ...ok(), event_id: ['1'] }],
    ['a number as timestamp', { ...ok(), timestamp: 1764150000 }],
    ['a boolean as source', { ...ok(), source: true }],
    ['a 100k string in the payload', { ...ok(), payload: 'x'.repeat(100_000) }],
    ['a 100k-element array payload', { ...ok(), payload: Array.from({ length: 100_000 }, () => 1) }],
    ['a batch over the limit', Array.from({ length: 101 }, ok)],
    ['{"events": "not an array"}', { events: 'nope' }],
    ['a batch of non-objects', [1, 'two', null]],
  ];

  it.each(cases)('answers 4xx to %s, publishes nothing, stays healthy', async (_what, payload, headers, status) => {
    const before = await streamSeq();
    const res = await post(payload, headers ?? {});
    if (status) expect(res.statusCode).toBe(status);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    const body = res.json();
    expect(typeof body.message).toBe('string');
    expect(body.message.length).toBeGreaterThan(5);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(js|ts):\d+/); // no stack traces
    expect(await streamSeq()).toBe(before);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('refuses invalid UTF-8 in a body', async () => {
    const bad = Buffer.concat([Buffer.from('{"topic":"a","event_id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","timestamp":"2026-11-26T10:00:00Z"}')]);
    const before = await streamSeq();
    const res = await app.inject({ method: 'POST', url: '/publish', headers: { 'content-type': 'application/json', ...auth(PUB) }, payload: bad });
    // Invalid bytes decode to U+FFFD; the event is then valid text, so either answer is safe, but
    // it must be a clean one.
    expect([202, 400]).toContain(res.statusCode);
    if (res.statusCode === 400) expect(await streamSeq()).toBe(before);
  });

  it('refuses a deeply nested payload without crashing', async () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const res = await post(`{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z","payload":${deep}}`);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
  });

  it('publishes nothing of a batch with one bad item', async () => {
    const before = await streamSeq();
    const res = await post([ok(), ok(), { ...ok(), topic: 'bad topic' }, ok()]);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ index: 2, field: 'topic' })]);
    expect(await streamSeq()).toBe(before);
  });

  it('times out a slow body with 408 and keeps serving', async () => {
    const { port } = app.server.address() as net.AddressInfo;
    const status = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(`POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PUB}\r\nContent-Length: 1000\r\n\r\n{"topic":`);
      });
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
      setTimeout(() => s.destroy(), 5_000);
    });
    expect(status).toMatch(/408/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it.each([['limit=1e9'], ['limit=-5'], ['before=99999999999999999999'], ['before=abc'], ['topic=%00'], ['unknown=1'], ['limit=1&limit=2']])(
    'answers 400 to /events?%s',
    async (qs) => {
      const res = await app.inject({ url: `/events?${qs}`, headers: auth(READ) });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/querystring/);
    },
  );

  it('never answers 5xx or crashes on arbitrary JSON bodies (property, bounded)', async () => {
    const before = await streamSeq();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (v) => {
        const res = await post(JSON.stringify(v));
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode === 202) accepted += res.json().accepted;
      }),
      { numRuns: 300, interruptAfterTimeLimit: 20_000 },
    );
    // Random JSON is essentially never a valid event: whatever was published was answered 202.
    expect((await streamSeq()) - before).toBe(accepted);
  });

  it('never answers 5xx to near-valid events with one field fuzzed (property, bounded)', async () => {
    const field = fc.constantFrom('topic', 'event_id', 'timestamp', 'source', 'payload');
    await fc.assert(
      fc.asyncProperty(field, fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 2 })), async (f, value) => {
        const res = await post({ ...ok(), [f]: value });
        expect([202, 400]).toContain(res.statusCode);
        if (res.statusCode === 400) expect(res.json().errors.map((e: { field: string }) => e.field.split('.')[0])).toContain(f);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 20_000 },
    );
  });
});

describe('access control', () => {
  it('requires a publish token for /publish: 401 without, 403 with a read-only token, 202 with it', async () => {
    const noToken = await app.inject({ method: 'POST', url: '/publish', payload: ok() });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.headers['www-authenticate']).toMatch(/Bearer/);
    expect((await app.inject({ method: 'POST', url: '/publish', headers: auth('nope'), payload: ok() })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/publish', headers: auth(READ), payload: ok() })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/publish', headers: auth(PUB), payload: ok() })).statusCode).toBe(202);
    expect((await app.inject({ method: 'POST', url: '/publish', headers: auth('both-token-0123456789'), payload: ok() })).statusCode).toBe(202);
  });

  it('requires a read token for /events and /stats; health and metrics stay open', async () => {
    for (const url of ['/events', '/stats']) {
      expect((await app.inject({ url })).statusCode).toBe(401);
      expect((await app.inject({ url, headers: auth(PUB) })).statusCode).toBe(403);
      expect((await app.inject({ url, headers: auth(READ) })).statusCode).toBe(200);
    }
    for (const url of ['/', '/healthz', '/readyz', '/metrics']) expect((await app.inject({ url })).statusCode).toBe(200);
  });

  it('sends security headers and no stack traces', async () => {
    const res = await app.inject({ url: '/healthz' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After past the per-client limit', async () => {
    const limited = await buildApp(loadIngestConfig({ ...stack.env, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' }), {
      loggerInstance: pino({ level: 'silent' }),
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await limited.inject({ url: '/stats' })).statusCode);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
      const res = await limited.inject({ url: '/stats' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.json().message).toMatch(/rate limit/i);
      // Probes are never limited.
      expect((await limited.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
