// The nats-core request-cancel workaround (shared/nats/request-cancel-patch.ts) must not change what
// requests do: resolve on a reply, reject on no responders, reject on timeout.
import { createRequire } from 'node:module';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRequestCancelPatch } from '../../shared/nats/request-cancel-patch.ts';
import { startNats, type NatsServer } from '../../scripts/lib/services.ts';

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  applyRequestCancelPatch();
  server = await startNats();
  nc = await connect({ servers: server.url, noAsyncTraces: true });
  nc.subscribe('echo', { callback: (_err, msg) => void msg.respond(msg.data) });
  nc.subscribe('silent', { callback: () => {} });
  await nc.flush();
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('request-cancel patch', () => {
  it('resolves requests with the reply, many times over (no leaked subscriptions or timers)', async () => {
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => nc.request('echo', String(i), { timeout: 2_000 })));
    expect(replies.map((r) => r.string())).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
    // Every settled request is removed from the connection's request table.
    const mux = (nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }).protocol.muxSubscriptions;
    expect(mux.size()).toBe(0);
  });

  it('no longer builds an Error for each successful request', async () => {
    // request.js reads errors.RequestError at call time, so swapping the export counts constructions.
    const require = createRequire(import.meta.url);
    const errors = require(path.join(path.dirname(require.resolve('@nats-io/nats-core')), 'errors.js')) as { RequestError: unknown };
    const Original = errors.RequestError as new (...a: unknown[]) => Error;
    let built = 0;
    errors.RequestError = class extends Original {
      constructor(...a: unknown[]) {
        super(...a);
        built++;
      }
    };
    try {
      await Promise.all(Array.from({ length: 50 }, () => nc.request('echo', 'x', { timeout: 2_000 })));
    } finally {
      errors.RequestError = Original;
    }
    expect(built).toBe(0);
  });

  it('still rejects when nobody listens', async () => {
    await expect(nc.request('nobody.home', 'x', { timeout: 2_000 })).rejects.toThrow(/no responders/i);
  });

  it('still times out', async () => {
    const started = Date.now();
    await expect(nc.request('silent', 'x', { timeout: 300 })).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});
