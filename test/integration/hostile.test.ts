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
    ['plain JSON labelled gzip', JSON.stringify(ok()), { 'content-encoding': 'gzip' }, 400],
    ['a br content encoding on a plain body', JSON.stringify(ok()), { 'content-encoding': 'br' }, 415],
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

  // 422 for every body that cannot be accepted as events (the previous service's status); 415 for the wrong type;
  // 400 for bytes that are not in their Content-Encoding.
  it.each(cases)('answers 4xx to %s, publishes nothing, stays healthy', async (_what, payload, headers, status) => {
    const before = await streamSeq();
    const res = await post(payload, headers ?? {});
    expect(res.statusCode).toBe(status ?? 422);
    const body = res.json();
    expect(typeof body.message).toBe('string');
    expect(body.message.length).toBeGreaterThan(5);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(js|ts):\d+/); // no stack traces
    expect(await streamSeq()).toBe(before);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it.each(['5', '"x"', 'null', 'true'])('answers the scalar body %s as not events, not as a batch', async (body) => {
    const res = await post(body);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: '', message: 'the body must be a JSON event, an array of events, or {"events": [...]}' }]);
  });

  it('names a prototype-poisoning key as the reason, not "invalid JSON"', async () => {
    const res = await post(`{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z","payload":{"x":{"__proto__":{}}}}`);
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toMatch(/"__proto__" key .* refused/);
  });

  it('names the content codings it takes, and takes "identity"', async () => {
    const refused = await post(JSON.stringify(ok()), { 'content-encoding': 'br' });
    expect(refused.headers['accept-encoding']).toBe('gzip, deflate');
    expect(refused.json().message).toMatch(/Content-Encoding "br" is not supported/);
    expect((await post(JSON.stringify(ok()), { 'content-encoding': 'identity' })).statusCode).toBe(202);
  });

  it('refuses invalid UTF-8 in a body with 422: decoded to U+FFFD, two different ids would become one event', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"topic":"a","event_id":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","timestamp":"2026-11-26T10:00:00Z"}'),
    ]);
    const before = await streamSeq();
    const res = await app.inject({
      method: 'POST',
      url: '/publish',
      headers: { 'content-type': 'application/json', ...auth(PUB) },
      payload: bad,
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: '', message: 'the body is not valid UTF-8' }]);
    expect(await streamSeq()).toBe(before);
    expect((await post(ok())).statusCode).toBe(202);
  });

  // Up to 64 KiB a body is scanned whole once read, past it as it arrives (plugins/json-body.ts): the same answer.
  it.each([
    ['scanned whole', ''],
    ['scanned as it arrives', ' '.repeat(70_000)],
  ])('refuses a deeply nested payload without crashing (%s)', async (_how, trailingSpace) => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const res = await post(`{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z","payload":${deep}}${trailingSpace}`);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: '', message: expect.stringMatching(/nested deeper/) }]);
    expect((await post(ok())).statusCode).toBe(202);
  });

  it('lists at most 100 field errors, however many there are, and says how many', async () => {
    // 100 events (the batch limit here) of 4 unknown fields each: 400 errors.
    const batch = Array.from({ length: 100 }, () => ({ ...ok(), k0: 0, k1: 0, k2: 0, k3: 0 }));
    const res = await post(batch);
    expect(res.statusCode).toBe(422);
    const body = res.json();
    expect(body.errors).toHaveLength(100);
    expect(body.errors[0]).toEqual({ index: 0, field: 'k0', message: expect.stringMatching(/not a known field/) });
    expect(body.message).toMatch(/\(400 errors; the first 100 are listed\)$/);
    expect(res.body.length).toBeLessThan(20_000);
    expect((await post(ok())).statusCode).toBe(202);
  });

  it('refuses an event that cannot fit MAX_EVENT_BYTES before parsing it: 40,000 fields', async () => {
    const fields = Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, 0]));
    const res = await post({ ...ok(), ...fields });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([{ field: 'payload', message: 'must be at most 65536 bytes encoded' }]);
  });

  describe('a batch over 64 KiB, parsed one event at a time', () => {
    const big = (n = 100) => Array.from({ length: n }, () => ({ ...ok(), payload: { text: 'x'.repeat(1_000) } }));
    it.each([
      ['an array', (events: object[]) => JSON.stringify(events)],
      ['{"events": [...]}', (events: object[]) => JSON.stringify({ events })],
      ['an array with whitespace', (events: object[]) => `\n [ ${events.map((e) => JSON.stringify(e, null, 1)).join(' ,\n ')} ] \n`],
    ])('as %s: stores every event of a valid one, nothing of one with an invalid event, naming its index', async (_what, form) => {
      const before = await streamSeq();
      const good = form(big());
      expect(good.length).toBeGreaterThan(64 * 1024);
      const ok202 = await post(good);
      expect(ok202.statusCode).toBe(202);
      expect(ok202.json()).toMatchObject({ accepted: 100, duplicates: 0 });
      expect(await storedSince(before)).toBe(100);
      const events = big();
      (events[57] as { timestamp: string }).timestamp = 'yesterday';
      const bad = await post(form(events));
      expect(bad.statusCode).toBe(422);
      expect(bad.json().errors).toEqual([expect.objectContaining({ index: 57, field: 'timestamp' })]);
      expect(await storedSince(before)).toBe(100);
    });

    it.each([
      ['trailing garbage', (t: string) => `${t} xx`],
      ['a missing comma', (t: string) => t.replace('},{', '}{')],
      ['a trailing comma', (t: string) => t.replace(/\]$/, ',]')],
      ['cut short', (t: string) => t.slice(0, -20)],
      ['garbage before it', (t: string) => `x${t}`],
    ])('refuses one with %s as invalid JSON, storing nothing', async (_what, spoil) => {
      const before = await streamSeq();
      const res = await post(spoil(JSON.stringify(big(90))));
      expect(res.statusCode).toBe(422);
      expect(res.json().message).toMatch(/not valid JSON/);
      expect(await storedSince(before)).toBe(0);
    });
  });

  it('publishes nothing of a batch with one bad item', async () => {
    const before = await streamSeq();
    const res = await post([ok(), ok(), { ...ok(), topic: 'bad topic' }, ok()]);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([expect.objectContaining({ index: 2, field: 'topic' })]);
    expect(await streamSeq()).toBe(before);
  });

  it('answers every request pipelined behind a body that does not parse (the connection stays open)', async () => {
    const { port } = app.server.address() as net.AddressInfo;
    const request = (body: string) =>
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PUB}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const bodies = ['{bad', JSON.stringify(ok()), '', JSON.stringify(ok()), '['.repeat(100) + ']'.repeat(100), JSON.stringify(ok())];
    const statuses = await new Promise<string[]>((resolve) => {
      let data = '';
      const s = net.connect(port, '127.0.0.1', () => s.write(bodies.map(request).join('')));
      const done = () => resolve([...data.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => m[1]!));
      s.on('data', (d) => {
        data += d;
        if ((data.match(/HTTP\/1\.1 \d+ /g) ?? []).length === bodies.length) s.end();
      });
      s.on('close', done);
      setTimeout(() => s.destroy(), 5_000);
    });
    expect(statuses).toEqual(['422', '202', '422', '202', '422', '202']);
  });

  it('times out a slow body with 408 and keeps serving', async () => {
    const { port } = app.server.address() as net.AddressInfo;
    const status = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(
          `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PUB}\r\nContent-Length: 1000\r\n\r\n{"topic":`,
        );
      });
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
      setTimeout(() => s.destroy(), 5_000);
    });
    expect(status).toMatch(/408/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it.each([
    ['limit=1e9'],
    ['limit=-5'],
    ['before=99999999999999999999'],
    ['before=abc'],
    ['topic=%00'],
    ['unknown=1'],
    ['limit=1&limit=2'],
  ])('answers 400 to /events?%s', async (qs) => {
    const res = await app.inject({ url: `/events?${qs}`, headers: auth(READ) });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/querystring/);
  });

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
        expect([202, 422]).toContain(res.statusCode);
        if (res.statusCode !== 422) return;
        // The field is named, unless the parser refused the whole body first (a "__proto__" or
        // "constructor" key inside the fuzzed value: prototype poisoning).
        const fields = res.json().errors.map((e: { field: string }) => e.field.split('.')[0]);
        if (fields.includes('')) expect(JSON.stringify(value)).toMatch(/"(__proto__|constructor)":/);
        else expect(fields).toContain(f);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 20_000 },
    );
  });
});

/** Writes `bytes` in one TCP write, reads until the server closes (or `waitMs`), returns what came back. */
async function exchange(bytes: string | Buffer, waitMs = 3_000): Promise<{ text: string; statuses: string[]; closed: boolean }> {
  const { port } = app.server.address() as net.AddressInfo;
  return new Promise((resolve) => {
    let text = '';
    let closed = false;
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('end', () => (closed = true));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1]!), closed });
    });
  });
}
const rawPost = (body: string, headers: Record<string, string> = {}, version = '1.1') =>
  `POST /publish HTTP/${version}\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PUB}\r\n` +
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('') +
  (headers['Transfer-Encoding'] ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`) +
  `\r\n${body}`;
/** The JetStream sequence once ingest has answered everything: what was stored meanwhile. */
const storedSince = async (before: number) => (await streamSeq()) - before;

describe("a connection carries only its own requests' replies (raw sockets)", () => {
  const trailers: Array<[string, string]> = [
    ['a request with Content-Length: abc', `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}`],
    [
      'a request with both Content-Length and Transfer-Encoding',
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    ['GARBAGE', 'GARBAGE\r\n\r\n'],
  ];
  it.each(trailers)(
    'answers a valid event 202, then the parser error, when it is followed by %s in the same write',
    async (_what, tail) => {
      const before = await streamSeq();
      const { statuses, closed } = await exchange(rawPost(JSON.stringify(ok())) + tail);
      expect(statuses).toEqual(['202', '400']);
      expect(closed).toBe(true);
      expect(await storedSince(before)).toBe(1);
    },
  );

  it('answers an HTTP/1.0 POST followed by bytes with its own 202 only, and closes', async () => {
    const before = await streamSeq();
    const { statuses, closed } = await exchange(rawPost(JSON.stringify(ok()), {}, '1.0') + 'GARBAGE\r\n\r\n');
    expect(statuses).toEqual(['202']);
    expect(closed).toBe(true);
    expect(await storedSince(before)).toBe(1);
  });

  it.each([
    ['br', { 'Content-Encoding': 'br' }],
    ['an unknown coding', { 'Content-Encoding': 'x-unknown' }],
    ['identity, br', { 'Content-Encoding': 'identity, br' }],
  ])('answers a body in %s 415 and every request pipelined behind it in order (the body was read whole)', async (_what, headers) => {
    const before = await streamSeq();
    const { statuses } = await exchange(
      rawPost(JSON.stringify(ok()), headers) +
        rawPost(JSON.stringify(ok())) +
        rawPost(JSON.stringify(ok())) +
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statuses).toEqual(['415', '202', '202', '200']);
    expect(await storedSince(before)).toBe(2);
  });

  it('answers two Content-Encoding headers 415, and the requests behind it in order', async () => {
    const before = await streamSeq();
    const twice = rawPost(JSON.stringify(ok())).replace('\r\n\r\n', '\r\nContent-Encoding: identity\r\nContent-Encoding: br\r\n\r\n');
    const { statuses } = await exchange(
      twice + rawPost(JSON.stringify(ok())) + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statuses).toEqual(['415', '202', '200']);
    expect(await storedSince(before)).toBe(1);
  });

  // Replies that close the connection, each for its own reason: nothing pipelined behind them is processed.
  it.each([
    [
      'a body over the limit (413)',
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PUB}\r\nContent-Length: ${600 * 1024}\r\n\r\n${' '.repeat(600 * 1024)}`,
      '413',
    ],
    ['a request that says Connection: close', rawPost(JSON.stringify(ok()), { Connection: 'close' }), '202'],
    ['a transfer coding other than chunked (501)', rawPost('7\r\n{"a":1}\r\n0\r\n\r\n', { 'Transfer-Encoding': 'gzip, chunked' }), '501'],
  ])('processes nothing pipelined behind %s', async (_what, first, status) => {
    const before = await streamSeq();
    const { statuses, closed } = await exchange(
      first + rawPost(JSON.stringify(ok())) + rawPost(JSON.stringify(ok())) + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(statuses).toEqual([status]);
    expect(closed).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(await storedSince(before)).toBe(status === '202' ? 1 : 0);
  });

  it('answers 501 to a transfer coding it does not implement, and stores nothing', async () => {
    const before = await streamSeq();
    const body = JSON.stringify(ok());
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const { text, statuses } = await exchange(rawPost(chunked, { 'Transfer-Encoding': 'gzip, chunked' }));
    expect(statuses).toEqual(['501']);
    expect(text).toMatch(/transfer coding/i);
    expect(await storedSince(before)).toBe(0);
    // Plain chunked is fine.
    expect((await exchange(rawPost(chunked, { 'Transfer-Encoding': 'chunked', Connection: 'close' }))).statuses).toEqual(['202']);
  });
});

describe('smaller protocol rules', () => {
  it.each(['utf-16', 'latin1', 'iso-8859-1', '"utf-16le"'])('answers 415 to a JSON body in charset=%s', async (charset) => {
    const before = await streamSeq();
    const res = await post(JSON.stringify(ok()), { 'content-type': `application/json; charset=${charset}` });
    expect(res.statusCode).toBe(415);
    expect(res.json().message).toMatch(/charset/);
    expect(await streamSeq()).toBe(before);
  });

  it.each(['utf-8', 'UTF-8', '"utf-8"', 'utf8'])('takes charset=%s', async (charset) => {
    expect((await post(JSON.stringify(ok()), { 'content-type': `application/json; charset=${charset}` })).statusCode).toBe(202);
  });

  it.each(['limit=0x10', 'limit=1e2', 'limit=%201', 'limit=1%20', 'limit=+5', 'limit=1.0', 'before=0b11', 'before=1e3'])(
    'answers 400 naming the field to /events?%s (decimal integers only)',
    async (qs) => {
      const res = await app.inject({ url: `/events?${qs}`, headers: auth(READ) });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain(qs.split('=')[0]);
    },
  );

  it('takes plain decimal integers', async () => {
    expect((await app.inject({ url: '/events?limit=10&before=99', headers: auth(READ) })).statusCode).toBe(200);
    expect((await app.inject({ url: '/stats/topics?limit=0x10', headers: auth(READ) })).statusCode).toBe(400);
  });

  it.each(['OPTIONS', 'PUT', 'POST', 'DELETE'])('answers %s /metrics 405 with Allow', async (method) => {
    const res = await app.inject({ method: method as 'PUT', url: '/metrics' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toMatch(/\bGET\b/);
  });
});

describe('body budget', () => {
  it('refuses a body past BODY_BUDGET_BYTES in flight with 503 + Retry-After before reading it; small bodies still pass', async () => {
    const budgeted = await buildApp(
      loadIngestConfig({ ...stack.env, BODY_LIMIT_BYTES: String(512 * 1024), BODY_BUDGET_BYTES: String(1024 * 1024) }),
      { loggerInstance: pino({ level: 'silent' }) },
    );
    await budgeted.listen({ port: 0, host: '127.0.0.1' });
    const { port } = budgeted.server.address() as net.AddressInfo;
    const head = (length: number) =>
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    // Two slow senders of 500 KiB bodies hold the budget: headers and the first bytes only.
    const holders = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => {
              s.write(head(500 * 1024) + '[');
              setTimeout(() => resolve(s), 200);
            });
            s.on('error', () => {});
          }),
      ),
    );
    try {
      const big = '[' + ' '.repeat(300 * 1024) + ']';
      const refused = await fetch(`http://127.0.0.1:${port}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: big,
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { message: string }).message).toMatch(/BODY_BUDGET_BYTES/);
      const small = await fetch(`http://127.0.0.1:${port}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ok()),
      });
      expect(small.status).toBe(202);
      // Once the holders are gone, a large body is read again (422: it holds no events).
      for (const h of holders) h.destroy();
      await expect
        .poll(
          async () =>
            (
              await fetch(`http://127.0.0.1:${port}/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: big,
              })
            ).status,
          { timeout: 5_000 },
        )
        .toBe(422);
    } finally {
      for (const h of holders) h.destroy();
      await budgeted.close();
    }
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
    expect((await app.inject({ method: 'POST', url: '/publish', headers: auth('both-token-0123456789'), payload: ok() })).statusCode).toBe(
      202,
    );
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
  const tok = (n: number) => `rate-token-${n}-0123456789`;
  const limitedApp = async (env: Record<string, string> = {}) =>
    buildApp(
      loadIngestConfig({
        ...stack.env,
        // Tokens of their own per test: a token's bucket follows it from address to address.
        AUTH_PUBLISH_TOKENS: [1, 2, 3, 4, 5].map(tok).join(','),
        AUTH_READ_TOKENS: [1, 2, 3, 4, 5].map(tok).join(','),
        RATE_LIMIT_MAX: '3',
        RATE_LIMIT_WINDOW_MS: '60000',
        ...env,
      }),
      { loggerInstance: pino({ level: 'silent' }) },
    );
  let limited: FastifyInstance;
  beforeAll(async () => {
    limited = await limitedApp();
  });
  afterAll(async () => {
    await limited?.close();
  });
  // Each test sends from addresses and tokens of its own, so their buckets never meet.
  const get = (remoteAddress: string, headers: Record<string, string> = {}, url = '/events?limit=1') =>
    limited.inject({ url, remoteAddress, headers }).then((r) => r.statusCode);
  const series = async (n: number, send: (i: number) => Promise<number>) => {
    const codes: number[] = [];
    for (let i = 0; i < n; i++) codes.push(await send(i));
    return codes;
  };

  it('answers 429 with Retry-After past the per-client limit; probes are never limited', async () => {
    expect(await series(5, () => get('10.1.0.1', auth(tok(1)), '/stats'))).toEqual([200, 200, 200, 429, 429]);
    const res = await limited.inject({ url: '/stats', remoteAddress: '10.1.0.1', headers: auth(tok(1)) });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.json().message).toMatch(/rate limit/i);
    for (const url of ['/healthz', '/readyz', '/metrics', '/metrics?x=1']) {
      expect(await series(5, () => get('10.1.0.1', auth(tok(1)), url))).toEqual([200, 200, 200, 200, 200]);
    }
  });

  it('spelling the header differently earns no fresh bucket: one token is one client, junk counts against the address', async () => {
    // One valid token written five ways, from five addresses: one bucket, the token's.
    const spellings = [1, 2, 3, 4].map((n) => `Bearer${' '.repeat(n)}${tok(2)}`).concat(`bearer ${tok(2)}  `);
    expect(await series(5, (i) => get(`10.2.0.${i}`, { authorization: spellings[i]! }))).toEqual([200, 200, 200, 429, 429]);
    // Junk of every kind from one address: that address's bucket.
    const junk = ['Basic Zm9vOmJhcg==', 'Bearer', 'x'.repeat(200), `Bearer  ${tok(2)}x`, `Bearer ${tok(2)} ${tok(2)}`];
    expect(await series(5, (i) => get('10.2.1.1', { authorization: junk[i]! }))).toEqual([401, 401, 401, 429, 429]);
  });

  it('failed logins count: 8 wrong tokens in a row from one address end in 429s', async () => {
    expect(await series(8, (i) => get('10.3.0.1', auth(`guess-${i}`)))).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
    // Requests from that address without a token are limited too, on open routes as well ...
    expect(await get('10.3.0.1', {}, '/')).toBe(429);
    // ... while a valid token sent from it is a client of its own.
    expect(await get('10.3.0.1', auth(tok(3)))).toBe(200);
  });

  it('two valid tokens get separate buckets, whichever address they come from', async () => {
    expect(await series(4, (i) => get(`10.4.0.${i}`, auth(tok(4)), '/'))).toEqual([200, 200, 200, 429]);
    expect(await series(4, () => get('10.4.0.1', auth(tok(5)), '/'))).toEqual([200, 200, 200, 429]);
  });

  it("X-Forwarded-For is ignored unless TRUST_PROXY names the proxy, and then only the proxy's own entry counts", async () => {
    const xff = (v: string) => ({ 'x-forwarded-for': v });
    // Not trusted: every request from 10.5.0.1 is 10.5.0.1's, whatever the header says.
    expect(await series(4, (i) => get('10.5.0.1', xff(`203.0.113.${i}`)))).toEqual([401, 401, 401, 429]);

    const proxied = await limitedApp({ TRUST_PROXY: '10.5.1.0/24' });
    try {
      const via = (peer: string, header: string) =>
        proxied.inject({ url: '/events?limit=1', remoteAddress: peer, headers: xff(header) }).then((r) => r.statusCode);
      // Through the trusted proxy: one bucket per client address it reports.
      expect(await series(4, (i) => via('10.5.1.1', `203.0.113.${i}`))).toEqual([401, 401, 401, 401]);
      expect(await series(4, () => via('10.5.1.2', '198.51.100.7'))).toEqual([401, 401, 401, 429]);
      // A client writing the header itself: the proxy appended the address it saw, and that is the key.
      expect(await series(4, (i) => via('10.5.1.1', `198.51.100.${100 + i}, 198.51.100.9`))).toEqual([401, 401, 401, 429]);
      // Straight from a peer that is not the proxy, the header is ignored.
      expect(await series(4, (i) => via('192.0.2.1', `203.0.113.${50 + i}`))).toEqual([401, 401, 401, 429]);
    } finally {
      await proxied.close();
    }
  });
});
