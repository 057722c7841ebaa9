// apps/ingest/pipelined-publisher.ts against a real nats-server: what a 202 rests on. Every outcome
// a PubAck can have (stored, duplicate, refused, no stream, no answer) must reach the right caller.
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelinedPublisher, PubAckTimeoutError } from '../../apps/ingest/pipelined-publisher.ts';
import { startNats, type NatsServer } from '../../scripts/lib/nats-server.ts';

const msgId = (id: string) => {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return h;
};

let server: NatsServer;
let nc: NatsConnection;
let publisher: PipelinedPublisher;
beforeAll(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PIPE', subjects: ['pipe.>'], duplicate_window: 60_000_000_000 });
  await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 64 });
  // A plain subscriber that never answers: the publish is delivered but no PubAck ever comes.
  nc.subscribe('silent.>', { callback: () => {} });
  // One that answers, but too late.
  nc.subscribe('late.>', { callback: (_err, msg) => void setTimeout(() => msg.respond('{"stream":"PIPE","seq":1}'), 400) });
  await nc.flush();
  publisher = new PipelinedPublisher(nc, 2_000);
});
afterAll(async () => {
  publisher?.close();
  await nc?.close();
  await server?.remove();
});

describe('PipelinedPublisher', () => {
  it('resolves each of many concurrent publishes with its own stream sequence', async () => {
    const acks = await Promise.all(Array.from({ length: 2_000 }, (_, i) => publisher.publish(`pipe.a`, `{"i":${i}}`, msgId(`id-${i}`))));
    expect(new Set(acks.map((a) => a.seq)).size).toBe(2_000);
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    const info = await (await jetstreamManager(nc)).streams.info('PIPE');
    expect(info.state.messages).toBe(2_000);
  });

  it('reports a Nats-Msg-Id JetStream already has as a duplicate of the stored message', async () => {
    const first = await publisher.publish('pipe.b', '{}', msgId('same-id'));
    const again = await publisher.publish('pipe.b', '{"other":1}', msgId('same-id'));
    expect(again).toEqual({ seq: first.seq, duplicate: true });
  });

  it('rejects when no stream takes the subject', async () => {
    await expect(publisher.publish('nostream.x', '{}', msgId('x'))).rejects.toThrow(/503/);
  });

  it('rejects with the reason when JetStream refuses the message', async () => {
    await expect(publisher.publish('small.x', 'x'.repeat(200), msgId('big'))).rejects.toThrow(/refused.*size/i);
  });

  it('times out when no PubAck comes, and ignores an answer that arrives after that', async () => {
    const short = new PipelinedPublisher(nc, 200);
    try {
      const started = Date.now();
      await expect(short.publish('late.x', '{}', msgId('x'))).rejects.toBeInstanceOf(PubAckTimeoutError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      await new Promise((r) => setTimeout(r, 400)); // the late answer arrives now and is dropped
      // The publisher still works after a timeout.
      await expect(short.publish('pipe.c', '{}', msgId('after-timeout'))).resolves.toMatchObject({ duplicate: false });
    } finally {
      short.close();
    }
  });

  it('counts a PubAck that arrived while the event loop was blocked past the timeout as an answer', async () => {
    const short = new PipelinedPublisher(nc, 200);
    try {
      const acks = Array.from({ length: 20 }, (_, i) => short.publish('pipe.d', '{}', msgId(`blocked-${i}`)));
      await new Promise((r) => setImmediate(r)); // the publishes are written
      const until = performance.now() + 600;
      while (performance.now() < until); // a synchronous stall, as when a huge body is parsed
      const settled = await Promise.allSettled(acks);
      expect(settled.map((s) => s.status)).toEqual(Array(20).fill('fulfilled'));
    } finally {
      short.close();
    }
  });

  it('rejects what is still waiting when closed', async () => {
    const p = new PipelinedPublisher(nc, 60_000);
    const waiting = p.publish('silent.y', '{}', msgId('y'));
    p.close();
    await expect(waiting).rejects.toBeInstanceOf(PubAckTimeoutError);
  });
});
