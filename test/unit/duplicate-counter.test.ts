// Group commit of the broker-duplicate counters, over a stand-in for the JetStream connection whose
// answers the test releases by hand (the counters against a real nats-server: test/integration).
import type { MsgHdrs } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { DuplicateCounter } from '../../apps/ingest/duplicate-counter.ts';
import type { PipelinedPublisher, PubAck } from '../../apps/ingest/pipelined-publisher.ts';

function heldJetStream() {
  const sent: Array<{ subject: string; incr: string; answer: (ok: boolean) => void }> = [];
  const fake = {
    publish(subject: string, _payload: unknown, headers: MsgHdrs): Promise<PubAck> {
      return new Promise<PubAck>((resolve, reject) =>
        sent.push({
          subject,
          incr: headers.get('Nats-Incr'),
          answer: (ok) => (ok ? resolve({ seq: 1, duplicate: false }) : reject(new Error('no PubAck'))),
        }),
      );
    },
  };
  const answerAll = async (ok = true) => {
    for (const s of sent.splice(0)) s.answer(ok);
    await new Promise((r) => setImmediate(r));
  };
  return { fake: fake as unknown as PipelinedPublisher, sent, answerAll };
}

const settled = (p: Promise<void>) => {
  const state = { done: false, failed: false };
  p.then(
    () => (state.done = true),
    () => (state.failed = true),
  );
  return state;
};

describe('DuplicateCounter', () => {
  it('sums the counts that arrive while an increment is on its way into one increment per topic and one to the total', async () => {
    const js = heldJetStream();
    const counter = new DuplicateCounter(js.fake, 'EVENTS');
    const first = settled(counter.add(new Map([['a', 1]])));
    expect(js.sent.map((s) => [s.subject, s.incr])).toEqual([
      ['counters.EVENTS.broker_duplicates.a', '+1'],
      ['counters.EVENTS.broker_duplicates_total', '+1'],
    ]);
    const second = settled(counter.add(new Map([['a', 2]])));
    const third = settled(
      counter.add(
        new Map([
          ['b', 1],
          ['a', 1],
        ]),
      ),
    );
    expect(js.sent).toHaveLength(2); // nothing more until the first increment is answered

    await js.answerAll();
    expect([first.done, second.done, third.done]).toEqual([true, false, false]);
    expect(js.sent.map((s) => [s.subject, s.incr])).toEqual([
      ['counters.EVENTS.broker_duplicates.a', '+3'],
      ['counters.EVENTS.broker_duplicates.b', '+1'],
      ['counters.EVENTS.broker_duplicates_total', '+4'],
    ]);
    await js.answerAll();
    expect([second.done, third.done]).toEqual([true, true]);
  });

  it('fails every request whose counts were in a failed increment, and the next ones still go through', async () => {
    const js = heldJetStream();
    const counter = new DuplicateCounter(js.fake, 'EVENTS');
    const first = settled(counter.add(new Map([['a', 1]])));
    const second = settled(counter.add(new Map([['a', 1]])));
    await js.answerAll(true);
    await js.answerAll(false);
    expect([first.done, second.failed]).toEqual([true, true]);

    const third = settled(counter.add(new Map([['a', 5]])));
    expect(js.sent.map((s) => s.incr)).toEqual(['+5', '+5']);
    await js.answerAll();
    expect(third.done).toBe(true);
  });
});
