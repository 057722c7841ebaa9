// Compressed request bodies (Content-Encoding: gzip, x-gzip, deflate) against the real stack: the
// compiled ingest and consumer processes over a real nats-server and PostgreSQL, over HTTP.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { deflate, deflateRaw, gunzip, gzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../load/poll.ts';
import type { AppProcess } from '../../scripts/lib/apps.ts';
import { cpuSeconds } from '../../scripts/lib/cpu.ts';
import { startTestStack, type TestStack } from './support.ts';

const gz = promisify(gzip);
const zz = promisify(deflate);
const LIMIT = 512 * 1024;
// Room for one body at the limit and a bit: two large bodies at once do not fit.
const BUDGET = 768 * 1024;

let stack: TestStack;
let ingest: AppProcess;

beforeAll(async () => {
  stack = await startTestStack({ BODY_LIMIT_BYTES: String(LIMIT), BODY_BUDGET_BYTES: String(BUDGET) });
  await stack.start('consumer');
  ingest = await stack.start('ingest');
});
afterAll(async () => {
  await stack?.stop();
});

const event = (topic: string, i = 0) => ({
  topic,
  event_id: randomUUID(),
  timestamp: '2026-11-26T10:00:00.123456Z',
  source: 'vitest',
  payload: { i, text: `é€😀 ${'x'.repeat(i % 50)}`, nested: { list: [i, null, true, 1.5] } },
});

const post = (body: Buffer | string, encoding?: string) =>
  fetch(`${ingest.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(encoding === undefined ? {} : { 'content-encoding': encoding }) },
    body,
  });

/** The topic's stored events, once there are `n` of them (following the pages' Link headers). */
const stored = (topic: string, n: number) =>
  pollUntil(
    async () => {
      const rows: Array<Record<string, unknown>> = [];
      for (let url: string | undefined = `/events?topic=${topic}&limit=1000`; url;) {
        const res = await fetch(new URL(url, ingest.url));
        rows.push(...((await res.json()) as Array<Record<string, unknown>>));
        url = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      }
      return rows;
    },
    (rows) => rows.length >= n,
    { what: `${n} events stored in ${topic}`, timeoutMs: 30_000 },
  );

/** Events that reached JetStream. */
const streamSeq = async () => ((await (await fetch(`${ingest.url}/stats`)).json()) as { received: number }).received;

describe('compressed bodies are stored exactly', () => {
  it.each([
    ['gzip', 'gzip', gz],
    ['x-gzip', 'x-gzip', gz],
    ['deflate (zlib)', 'deflate', zz],
  ] as const)('%s: a single event, an array, and a batch of 1000', async (_what, encoding, compress) => {
    const topic = `gz.${encoding.replace('-', '_')}.${randomUUID().slice(0, 8)}`;
    const single = event(topic);
    const array = Array.from({ length: 10 }, (_, i) => event(topic, i + 1));
    const batch = Array.from({ length: 1000 }, (_, i) => event(topic, i + 11));
    const bodies = [JSON.stringify(single), JSON.stringify(array), JSON.stringify({ events: batch })];
    const compressed = await Promise.all(bodies.map((b) => compress(b)));
    // Compressed, or this test would not say much.
    expect(compressed[2]!.length).toBeLessThan(bodies[2]!.length / 3);

    const replies = await Promise.all(
      compressed.map(async (b) => {
        const res = await post(b, encoding);
        return { status: res.status, body: await res.json() };
      }),
    );
    expect(replies.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(replies.map((r) => r.body)).toEqual([
      { status: 'queued', id: single.event_id, accepted: 1, duplicates: 0 },
      { status: 'queued', accepted: 10, duplicates: 0 },
      { status: 'queued', accepted: 1000, duplicates: 0 },
    ]);

    const rows = await stored(topic, 1011);
    expect(rows).toHaveLength(1011);
    const sent = new Map<string, ReturnType<typeof event>>([single, ...array, ...batch].map((e) => [e.event_id, e]));
    for (const row of rows) {
      const e = sent.get(row.event_id as string)!;
      expect(row).toMatchObject({ topic, event_id: e.event_id, timestamp: e.timestamp, source: 'vitest', payload: e.payload });
      sent.delete(e.event_id);
    }
    expect(sent.size).toBe(0);
  });

  it('keeps the connection for the next request after a compressed one', async () => {
    const topic = `gz.keepalive.${randomUUID().slice(0, 8)}`;
    const a = JSON.stringify(event(topic, 1));
    const b = JSON.stringify(event(topic, 2));
    const zipped = await gz(a);
    const raw = `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${zipped.length}\r\n\r\n`;
    const { statuses, closed } = await exchange([
      Buffer.concat([Buffer.from(raw), zipped]),
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b}`,
    ]);
    expect(statuses).toEqual(['202', '202']);
    expect(closed).toBe(true);
    expect(await stored(topic, 2)).toHaveLength(2);
  });
});

/** Sends `parts` over one raw connection, awaiting `between(i)` before part i; resolves once it closes. */
function exchange(parts: Array<Buffer | string>, between?: (i: number) => Promise<void>) {
  return new Promise<{ text: string; statuses: string[]; closed: boolean }>((resolve, reject) => {
    const s = net.connect(Number(new URL(ingest.url).port), '127.0.0.1');
    let text = '';
    let closed = false;
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('end', () => (closed = true));
    s.on('close', () => resolve({ text, statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1]!), closed }));
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await between?.(i);
        if (s.destroyed) break;
        s.write(part);
      }
    })().catch(reject);
    setTimeout(() => s.destroy(), 20_000).unref();
  });
}

describe('bounds', () => {
  it('answers a 64 MiB gzip bomb of zeros 413 having inflated about the limit, answering another client meanwhile', async () => {
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const bomb = await gz(zeros);
    // What inflating all of it costs, here and now: the yardstick for ingest's CPU below.
    const c0 = process.cpuUsage();
    await promisify(gunzip)(bomb);
    const c1 = process.cpuUsage(c0);
    const fullInflateS = (c1.user + c1.system) / 1e6;

    const head = `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`;
    // The first 200 bytes inflate to ~200 KiB, under the limit: the body is then being read.
    const first = Buffer.concat([Buffer.from(head), bomb.subarray(0, 200)]);
    const topic = `gz.meanwhile.${randomUUID().slice(0, 8)}`;
    let meanwhile: number | undefined;
    let cpuBefore = 0;
    const { text, statuses, closed } = await exchange([first, bomb.subarray(200)], async () => {
      await new Promise((r) => setTimeout(r, 200));
      // Another client, while the bomb's body is half read.
      meanwhile = (await post(JSON.stringify(event(topic)))).status;
      cpuBefore = cpuSeconds(ingest.proc.pid!);
    });
    const bombCpuS = cpuSeconds(ingest.proc.pid!) - cpuBefore;
    expect(meanwhile).toBe(202);
    expect(statuses).toEqual(['413']);
    expect(closed).toBe(true);
    expect(text).toMatch(/the body inflates to more than BODY_LIMIT_BYTES \(524288 bytes\)/);
    // Inflating 64 MiB costs fullInflateS; ingest spent a fraction of that on the bomb's rest.
    expect(fullInflateS).toBeGreaterThan(0.05);
    expect(bombCpuS).toBeLessThan(fullInflateS / 3);
    expect((await fetch(`${ingest.url}/healthz`)).status).toBe(200);
  });

  it('counts a compressed body in the body budget by what it inflates to: 503 + Retry-After past it', async () => {
    // Two bodies of ~400 KiB inflated, ~1 KiB compressed each: together past the 768 KiB budget.
    const big = (topic: string) => JSON.stringify({ ...event(topic), payload: { pad: ' '.repeat(40_000) } }) + ' '.repeat(400 * 1024);
    const first = await gz(big('gz.budget'));
    const head = `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${first.length}\r\nConnection: close\r\n\r\n`;
    let second: { status: number; retryAfter: string | null; message: string } | undefined;
    const { statuses } = await exchange(
      [Buffer.concat([Buffer.from(head), first.subarray(0, first.length - 30)]), first.subarray(first.length - 30)],
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        // The first body is inflated but for its last bytes, counted at ~400 KiB + 40 KiB.
        const res = await post(await gz(big('gz.budget')), 'gzip');
        second = {
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          message: ((await res.json()) as { message: string }).message,
        };
      },
    );
    expect(second).toEqual({ status: 503, retryAfter: '1', message: expect.stringMatching(/BODY_BUDGET_BYTES/) });
    expect(statuses).toEqual(['202']);
    // Released with the reply: the same body alone fits again.
    expect((await post(await gz(big('gz.budget')), 'gzip')).status).toBe(202);
  });
});

describe('refusals', () => {
  it.each([
    [
      'a gzip stream cut short',
      async (b: string) => (await gz(b)).subarray(0, 30),
      'gzip',
      /not valid gzip \(Content-Encoding: gzip\): the compressed stream is cut short/,
    ],
    [
      'raw deflate sent as deflate',
      (b: string) => promisify(deflateRaw)(b),
      'deflate',
      /not valid zlib-format deflate \(RFC 1950\) \(Content-Encoding: deflate\)/,
    ],
    ['plain JSON labelled gzip', async (b: string) => Buffer.from(b), 'gzip', /not valid gzip/],
  ] as const)('answers %s 400 naming Content-Encoding, storing nothing', async (_what, compress, encoding, message) => {
    const before = await streamSeq();
    const res = await post(await compress(JSON.stringify(event('gz.refused'))), encoding);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ statusCode: 400, code: 'INVALID_CONTENT_ENCODING', message: expect.stringMatching(message) });
    expect(await streamSeq()).toBe(before);
  });

  it.each(['br', 'zstd', 'identity, gzip', 'gzip, gzip', 'x-unknown'])(
    'answers Content-Encoding %j 415 with Accept-Encoding: gzip, deflate',
    async (encoding) => {
      const before = await streamSeq();
      const res = await post(await gz(JSON.stringify(event('gz.refused'))), encoding);
      expect(res.status).toBe(415);
      expect(res.headers.get('accept-encoding')).toBe('gzip, deflate');
      expect(((await res.json()) as { message: string }).message).toContain(`Content-Encoding "${encoding}" is not supported`);
      expect(await streamSeq()).toBe(before);
    },
  );

  it('reads a compressed body through the same JSON checks as a plain one (422 naming the field)', async () => {
    const res = await post(await gz(JSON.stringify({ ...event('gz.refused'), timestamp: 'never' })), 'gzip');
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'timestamp', message: expect.any(String) }]);
  });
});
