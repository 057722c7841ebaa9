// The ingest publisher's own logic, over a stand-in for the JetStream connection (the pipeline
// against a real nats-server is in test/integration): slots always come back, a wait for a slot
// ends at the request's deadline, stalled() tells readiness, repeats and 10158 answers are handled.
import type { MsgHdrs } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { EventPublisher, PublishUnavailableError, type EncodedEvent } from '../../apps/ingest/event-publisher.ts';
import { JetStreamRefusalError, type PipelinedPublisher, type PubAck } from '../../apps/ingest/pipelined-publisher.ts';

type Answer = (subject: string, msgId: string | undefined) => Promise<PubAck>;

/** A PipelinedPublisher whose answers the test decides; counter increments are always stored. */
function fakeJetStream(answer: Answer) {
  const published: string[] = [];
  const fake = {
    publish(subject: string, _payload: unknown, headers: MsgHdrs): Promise<PubAck> {
      if (subject.startsWith('counters.')) return Promise.resolve({ seq: 1, duplicate: false });
      const id = headers.get('Nats-Msg-Id');
      published.push(id);
      return answer(subject, id);
    },
  };
  return { fake: fake as unknown as PipelinedPublisher, published };
}

const event = (id: string, topic = 't'): EncodedEvent => ({
  event: { topic, event_id: id },
  json: '{}',
});
const stored: Answer = () => Promise.resolve({ seq: 1, duplicate: false });
const never: Answer = () => new Promise<PubAck>(() => {});
const inProcess = () => new JetStreamRefusalError(409, 10158, 'duplicate message id is in process');

describe('EventPublisher', () => {
  it('gives every slot back when JetStream refuses, so later requests still publish', async () => {
    let refuse = true;
    const { fake } = fakeJetStream((s, id) => (refuse ? Promise.reject(new Error('no responders')) : stored(s, id)));
    const p = new EventPublisher(fake, 'EVENTS', 2, 1_000);
    await expect(p.publish([event('a'), event('b'), event('c')])).rejects.toBeInstanceOf(PublishUnavailableError);
    refuse = false;
    await expect(p.publish([event('d'), event('e'), event('f'), event('g')])).resolves.toEqual({ accepted: 4, duplicates: 0 });
    expect(p.stalled(performance.now() + 10_000)).toBe(false);
  });

  it('ends a wait for a publish slot at the request deadline with 503, and says it is stalled', async () => {
    const { fake } = fakeJetStream(never);
    const p = new EventPublisher(fake, 'EVENTS', 1, 100);
    void p.publish([event('held')]).catch(() => {});
    const started = performance.now();
    await expect(p.publish([event('waiting')])).rejects.toThrow(/no publish slot came free within 100 ms/);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Nothing has settled for twice the publish timeout while one is outstanding.
    expect(p.stalled()).toBe(false);
    expect(p.stalled(performance.now() + 250)).toBe(true);
  });

  it('publishes a repeat within one request once and counts it as a duplicate', async () => {
    const { fake, published } = fakeJetStream(stored);
    const p = new EventPublisher(fake, 'EVENTS', 8, 1_000);
    await expect(p.publish([event('a'), event('b'), event('a')])).resolves.toEqual({ accepted: 3, duplicates: 1 });
    expect(published).toHaveLength(2);
  });

  it('asks again while JetStream has the id in process, and reports the real answer', async () => {
    let calls = 0;
    let retries = 0;
    const { fake } = fakeJetStream(() => (++calls < 3 ? Promise.reject(inProcess()) : Promise.resolve({ seq: 7, duplicate: true })));
    const p = new EventPublisher(fake, 'EVENTS', 8, 1_000, () => retries++);
    await expect(p.publish([event('x')])).resolves.toEqual({ accepted: 1, duplicates: 1 });
    expect(retries).toBe(2);
  });

  it('answers 503 when the id stays in process past the deadline: a 202 needs a known outcome', async () => {
    const { fake } = fakeJetStream(() => Promise.reject(inProcess()));
    const p = new EventPublisher(fake, 'EVENTS', 8, 100);
    await expect(p.publish([event('x')])).rejects.toBeInstanceOf(PublishUnavailableError);
  });
});
