import net from 'node:net';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bodyBudget from '../../apps/ingest/plugins/body-budget.ts';
import connectionOrder from '../../apps/ingest/plugins/connection-order.ts';
import errorsPlugin from '../../apps/ingest/plugins/errors.ts';
import jsonBody from '../../apps/ingest/plugins/json-body.ts';
import metricsPlugin from '../../apps/ingest/plugins/metrics.ts';

// The body plugins alone, every onRequest hook synchronous: Fastify then reaches preParsing in the
// request's own turn. When the body flowed into the scan from there, a refusal raised before Fastify
// listened to the scanned stream reached no one and the request was never answered (the chunked
// case below); the app's async access hook hid that, so it is tested here without it. The gzip
// cases hold the lazily started inflater to its answers.
const LIMIT = 512 * 1024;
let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  await app.register(connectionOrder);
  await app.register(metricsPlugin, { config: { METRICS_PORT: 0, METRICS_ON_API_PORT: false, HOST: '127.0.0.1' } });
  await app.register(errorsPlugin);
  await app.register(bodyBudget, { config: { BODY_BUDGET_BYTES: 16 * 1024 * 1024, BODY_LIMIT_BYTES: LIMIT } });
  await app.register(jsonBody, { limits: { maxBatchSize: 100, maxEventBytes: 16 * 1024 }, bodyLimitBytes: LIMIT });
  app.post('/publish', async (_req, reply) => reply.code(202).send({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => app.close());

/** Sends raw bytes; the first status line the server answers with, or undefined within 3 s. */
function statusOf(head: string, body: Buffer): Promise<string | undefined> {
  const { port } = app.server.address() as net.AddressInfo;
  return new Promise((resolve) => {
    let text = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from(head), body])));
    const timer = setTimeout(() => s.destroy(), 3_000);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
    });
  });
}
const chunked = (body: Buffer) => Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
const post = (headers: string) =>
  `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n${headers}\r\n`;
const deep = Buffer.from(`{"topic":"a","payload":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);

describe('a body scanned as it arrives is answered whatever the hooks before it', () => {
  it('chunked, nested too deep: 422', async () => {
    expect(await statusOf(post('Transfer-Encoding: chunked\r\n'), chunked(deep))).toBe('422');
  });

  it('gzip that is not gzip: 400', async () => {
    const notGzip = Buffer.from('{"topic":"a"}'.repeat(10_000));
    expect(await statusOf(post(`Content-Encoding: gzip\r\nContent-Length: ${notGzip.length}\r\n`), notGzip)).toBe('400');
  });

  it('a valid gzip body, chunked: 202', async () => {
    const body = gzipSync('{"topic":"a","event_id":"1","timestamp":"2026-11-26T10:00:00Z"}');
    expect(await statusOf(post('Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n'), chunked(body))).toBe('202');
  });
});
