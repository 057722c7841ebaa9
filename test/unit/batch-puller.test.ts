// The consumer's batching over a stand-in pull subscription that the test feeds by hand (pulling
// from a real nats-server is covered by test/integration): a partial batch waits at most the
// linger, a batch that fills ends the wait at once, and stop() wakes whoever waits.
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { BatchPuller } from '../../apps/consumer/pull.ts';
import type { Log } from '../../shared/logger.ts';

function handFedConsumer() {
  const queue: JsMsg[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  async function* messages() {
    while (!stopped) {
      if (queue.length === 0) await new Promise<void>((r) => (wake = r));
      while (queue.length > 0) yield queue.shift()!;
    }
  }
  const iterator = Object.assign(messages(), {
    stop: () => {
      stopped = true;
      wake?.();
    },
  });
  const consumer = { consume: () => Promise.resolve(iterator) } as unknown as Consumer;
  const feed = (n: number) => {
    for (let i = 0; i < n; i++) queue.push({ seq: i } as unknown as JsMsg);
    wake?.();
  };
  return { consumer, feed };
}

const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Log;

async function puller(lingerMs: number) {
  const fed = handFedConsumer();
  const p = new BatchPuller(fed.consumer, { highWater: 1_000, lingerMs }, silent, () => {});
  await p.start();
  return { p, feed: fed.feed };
}

describe('BatchPuller', () => {
  it('hands out a batch as soon as it fills, without waiting out the linger', async () => {
    const { p, feed } = await puller(5_000);
    feed(1);
    const started = performance.now();
    const next = p.next(3);
    setTimeout(() => feed(2), 20);
    expect(await next).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(2_000);
    p.stop();
  });

  it('hands out a partial batch once the linger is over', async () => {
    const { p, feed } = await puller(100);
    feed(2);
    const started = performance.now();
    expect(await p.next(10)).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    p.stop();
  });

  it('stop() ends a wait for a batch to fill: nothing is handed out while stopping', async () => {
    const { p, feed } = await puller(5_000);
    feed(1);
    const started = performance.now();
    const next = p.next(10);
    setTimeout(() => p.stop(), 20);
    expect(await next).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
