// JetStream as a bounded buffer between ingest and PostgreSQL, in accelerated time: a nats-server
// whose file store is 32 MiB stands in for months of traffic against an 8 GiB one. Every test ends
// with the counts checked: nothing answered 202 is lost, nothing is stored twice, and no store grew
// past its bound. Not in the 3-node run (`test:nats-cluster`): the bounds are the streams' own,
// the same with one server or three.
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats, type SendResult } from '../../load/client.ts';
import { checkCounts } from '../../load/count-check.ts';
import { generateWorkload } from '../../load/workload.ts';
import { startLocalStack, type LocalStack } from '../../scripts/lib/stack.ts';
import { counterStreamName, deadLetterStreamName } from '../../shared/nats/topology.ts';
import { pollUntil } from '../../load/poll.ts';
import { sleep } from '../../shared/retry.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { postJson } from './support.ts';

const MiB = 1024 * 1024;
const FILE_STORE = 32 * MiB;
const BUFFER = 16 * MiB;
const DEAD_LETTERS = 4 * MiB;

let stack: LocalStack | undefined;
let nc: NatsConnection | undefined;
afterEach(async () => {
  await nc?.close();
  nc = undefined;
  await stack?.stop();
  stack = undefined;
});

async function smallStack(env: Record<string, string> = {}) {
  stack = await startLocalStack(
    { STREAM_MAX_BYTES: String(BUFFER), DLQ_MAX_BYTES: String(DEAD_LETTERS), ...env },
    { stopSignal: 'SIGKILL', natsConfig: `jetstream { max_file_store: ${FILE_STORE} }`, appLogs: 'files' },
  );
  nc = await connect({ servers: stack.nats.url });
  return { stack, jsm: await jetstreamManager(nc) };
}

/** Events with ~2 KiB of payload each, so a few thousand fill the buffer. */
const heavyWorkload = (events: number, seed: number) => generateWorkload({ events, duplicateRate: 0.2, seed, padBytes: 2_000 });

/** The largest size each store reached while `during` ran, sampled every 100 ms. */
async function peakSizes(jsm: JetStreamManager, during: Promise<unknown>) {
  const peak = { buffer: 0, counters: 0, counterMessages: 0, deadLetters: 0 };
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    const [events, counters, dlq] = await Promise.all([
      jsm.streams.info('EVENTS'),
      jsm.streams.info(counterStreamName('EVENTS')),
      jsm.streams.info(deadLetterStreamName('EVENTS')),
    ]).catch(() => []); // the test failed and closed the connection: the peaks are not read then
    if (!events || !counters || !dlq) break;
    peak.buffer = Math.max(peak.buffer, events.state.bytes);
    peak.counters = Math.max(peak.counters, counters.state.bytes);
    peak.counterMessages = Math.max(peak.counterMessages, counters.state.messages);
    peak.deadLetters = Math.max(peak.deadLetters, dlq.state.bytes);
    await sleep(100);
  }
  return peak;
}

const settled = (url: string, unique: number, timeoutMs = 120_000) =>
  waitForStats(url, (s) => s.unique_processed >= unique && s.queue_depth === 0, timeoutMs);

function expectExact(s: StatsReply, w: { unique: number; duplicates: number }, sent: Pick<SendResult, 'retriedEvents'>) {
  expect(s.unique_processed).toBe(w.unique);
  // Dead letters were received (they have a stream sequence) but are neither stored nor duplicates.
  expect(s.received).toBe(s.unique_processed + s.duplicate_dropped + s.dead_lettered);
  expect(checkCounts({ unique: s.unique_processed, duplicates: s.duplicate_dropped }, w, sent.retriedEvents)).toMatchObject({
    exact: true,
  });
}

const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('bounded buffer', () => {
  it('5x the file store at full speed, then the consumer stopped: 503 + Retry-After at the cap, nothing lost, every store flat', async () => {
    const { stack, jsm } = await smallStack();
    const consumer = await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const many = { baseUrl: ingest.url, batchSize: 100, concurrency: 8, maxAttempts: 1_000 };

    // ~170 MiB of events through a 16 MiB buffer on a 32 MiB store.
    const w1 = heavyWorkload(80_000, 41);
    const first = sendEvents(w1.events, many);
    const peak1 = await peakSizes(jsm, first);
    const sent1 = await first;
    expect(sent1.failed).toBe(0);
    expectExact(await settled(ingest.url, w1.unique), w1, sent1);

    // The consumer frozen: the buffer fills and ingest pushes back, but stays ready.
    consumer.proc.kill('SIGSTOP');
    const w2 = heavyWorkload(12_000, 42);
    const second = sendEvents(w2.events, { ...many, concurrency: 4 });
    const peak2Promise = peakSizes(jsm, second);
    // New events until one is refused (a re-sent one would get its duplicate ack: dedup comes first).
    let probes = 0;
    const probe = () => ({ topic: 'orders.created', event_id: `probe-${probes}`, timestamp: '2026-12-06T10:00:00Z' });
    const refused = await pollUntil(
      () => postJson(`${ingest.url}/publish`, probe()),
      (r) => {
        if (r.status === 202) probes++;
        return r.status === 503;
      },
      { what: 'a 503 from the full buffer', timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.body.message).toMatch(/buffer is full/);
    expect((await fetch(`${ingest.url}/readyz`)).status).toBe(200);
    expect(await metric(ingest.url, 'ingest_unavailable_responses_total{reason="buffer_full"')).toBeGreaterThan(0);
    const full = await jsm.streams.info('EVENTS');
    expect(full.state.bytes).toBeLessThanOrEqual(BUFFER);
    expect(full.state.bytes).toBeGreaterThan(BUFFER * 0.9);

    consumer.proc.kill('SIGCONT');
    const sent2 = await second;
    const peak2 = await peak2Promise;
    expect(sent2.failed).toBe(0);
    expect(sent2.retries).toBeGreaterThan(0);
    // The probe was refused whole: it is not stored, and now it is.
    expect((await postJson(`${ingest.url}/publish`, probe())).status).toBe(202);
    const total = { unique: w1.unique + w2.unique + probes + 1, duplicates: w1.duplicates + w2.duplicates };
    const s = await settled(ingest.url, total.unique);
    expectExact(s, total, { retriedEvents: sent1.retriedEvents + sent2.retriedEvents });
    expect(s.queue.stream_messages).toBe(0);

    // Flat: the buffer never past its cap, the counters one message per topic (5) + the total,
    // no dead letters, and the buffer empty once everything is stored.
    for (const peak of [peak1, peak2]) {
      expect(peak.buffer).toBeLessThanOrEqual(BUFFER);
      expect(peak.counterMessages).toBeLessThanOrEqual(6);
      expect(peak.deadLetters).toBe(0);
    }
    expect(s.duplicates_by_layer.broker).toBeGreaterThan(peak1.counterMessages);
    expect((await jsm.streams.info('EVENTS')).state.bytes).toBe(0);
    expect(await metric(consumer.url, 'jetstream_buffer_max_bytes')).toBe(BUFFER);
  });

  it('dedup window: a re-send after its original was stored and removed is caught by the broker; after a nats-server restart, by PostgreSQL', async () => {
    const { stack, jsm } = await smallStack();
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const event = { topic: 'orders.created', event_id: 'dedup-across-removal', timestamp: '2026-12-06T10:00:00Z' };
    expect((await postJson(`${ingest.url}/publish`, event)).body).toMatchObject({ accepted: 1, duplicates: 0 });
    await settled(ingest.url, 1);
    // Stored and acked: gone from the work-queue stream, still in its dedup window.
    expect((await jsm.streams.info('EVENTS')).state.messages).toBe(0);
    expect((await postJson(`${ingest.url}/publish`, event)).body).toMatchObject({ accepted: 1, duplicates: 1 });

    const lastSeq = (await jsm.streams.info('EVENTS')).state.last_seq;
    await stack.nats.stop();
    await stack.nats.start();
    // The window is rebuilt from stored messages only, and none is left: the broker takes it anew.
    const resent = await pollUntil(
      () => postJson(`${ingest.url}/publish`, event),
      (r) => r.status === 202,
      { what: 'a 202 after the restart', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(resent.body).toMatchObject({ accepted: 1, duplicates: 0 });
    const s = await waitForStats(ingest.url, (x) => x.duplicate_dropped === 2 && x.queue_depth === 0, 30_000);
    // An empty work-queue stream keeps its last sequence across the restart: received stays exact.
    // (Asked until the test's own connection is back: its reconnect after the restart is not what
    // this test is about, and on a busy machine a first request can time out.)
    const info = await pollUntil(
      () => jsm.streams.info('EVENTS').catch(() => undefined),
      (i) => i !== undefined,
      { what: 'stream info after the restart', timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(info!.state.last_seq).toBe(lastSeq + 1);
    expect(s).toMatchObject({ received: 3, unique_processed: 1, duplicate_dropped: 2, duplicates_by_layer: { broker: 1, database: 1 } });
  });

  it('a full dead-letter stream holds the rest back, loses nothing and expires nothing; once an operator makes room, it drains', async () => {
    const { stack, jsm } = await smallStack({ DLQ_MAX_BYTES: String(MiB) });
    const consumer = await stack.start('consumer');
    const ingest = await stack.start('ingest');
    // 24 messages of 60 KB nobody can store, published past ingest: 1.4 MB for a 1 MiB dead-letter stream.
    const js = jetstream(nc!);
    for (let i = 0; i < 24; i++) await js.publish('events.poison', `not json ${i} ${'#'.repeat(60_000)}`, { msgID: `poison-${i}` });
    await pollUntil(
      () => jsm.streams.info(deadLetterStreamName('EVENTS')),
      (info) => info.state.messages >= 16,
      { what: 'the dead-letter stream filling', timeoutMs: 30_000 },
    );
    await sleep(2_000);
    const dlq = await jsm.streams.info(deadLetterStreamName('EVENTS'));
    expect(dlq.state.bytes).toBeLessThanOrEqual(MiB);
    expect(dlq.config.max_age).toBe(0);
    // What did not fit is still in the buffer, not dropped.
    expect((await jsm.streams.info('EVENTS')).state.messages).toBe(24 - dlq.state.messages);
    expect(await metric(consumer.url, 'jetstream_dead_letter_bytes')).toBeGreaterThan(0.9 * MiB);

    // The operator moves the dead letters elsewhere (here: purges them); the rest follows.
    await jsm.streams.purge(deadLetterStreamName('EVENTS'));
    const w = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 43 });
    const sent = await sendEvents(w.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    expect(sent.failed).toBe(0);
    const s = await waitForStats(
      ingest.url,
      (x) => x.unique_processed >= w.unique && x.queue_depth === 0 && x.dead_lettered === 24,
      60_000,
    );
    expectExact(s, w, sent);
    expect((await jsm.streams.info(deadLetterStreamName('EVENTS'))).state.messages).toBe(24 - dlq.state.messages);
  });

  it('MAX_TOPICS: a new topic past the limit is refused with a 422 naming it; known topics stay accepted, on every replica', async () => {
    const { stack } = await smallStack({ MAX_TOPICS: '3' });
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const at = (topic: string, id: string) => ({ topic, event_id: id, timestamp: '2026-12-06T10:00:00Z' });
    const publish = (url: string, body: unknown) => postJson(`${url}/publish`, body);
    expect((await publish(ingest.url, [at('a', '1'), at('b', '1'), at('c', '1')])).status).toBe(202);

    const refused = await publish(ingest.url, at('d', '1'));
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('TOPIC_LIMIT');
    expect(refused.body.message).toMatch(/MAX_TOPICS/);
    expect(refused.body.errors).toEqual([{ field: 'topic', message: expect.stringMatching(/limit of 3 distinct topics \(MAX_TOPICS\)/) }]);
    // A batch is all or nothing: its known-topic events are not published either.
    const batch = await publish(ingest.url, [at('a', '2'), at('e', '1')]);
    expect(batch.status).toBe(422);
    expect(batch.body.errors).toEqual([{ index: 1, field: 'topic', message: expect.any(String) }]);
    expect((await publish(ingest.url, at('a', '3'))).status).toBe(202);

    // Another replica, started once the topics are stored, knows them from PostgreSQL.
    await settled(ingest.url, 4);
    const other = await stack.start('ingest');
    expect((await publish(other.url, at('d', '2'))).status).toBe(422);
    expect((await publish(other.url, at('c', '2'))).status).toBe(202);
    const s = await settled(ingest.url, 5);
    expect(s.topic_count).toBe(3);
    expect(s.unique_processed).toBe(5);
  });

  it('a stream from before the buffer (limits retention) keeps working untouched; the documented conversion makes it a work queue, exact', async () => {
    const { stack, jsm } = await smallStack();
    // What a release before the bounded buffer created.
    await jsm.streams.add({
      name: 'EVENTS',
      subjects: ['events.>'],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(7 * 86_400_000),
      duplicate_window: nanos(120_000),
    });
    await jsm.streams.add({
      name: counterStreamName('EVENTS'),
      subjects: ['counters.EVENTS.>'],
      allow_msg_counter: true,
      allow_direct: true,
    });
    await jsm.streams.add({ name: deadLetterStreamName('EVENTS'), subjects: ['dlq.EVENTS.>'], max_age: nanos(7 * 86_400_000) });
    const consumer = await stack.start('consumer');
    let ingest = await stack.start('ingest');
    const w1 = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed: 44 });
    const sent1 = await sendEvents(w1.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    expectExact(await settled(ingest.url, w1.unique), w1, sent1);
    const legacy = await jsm.streams.info('EVENTS');
    expect(legacy.config.retention).toBe(RetentionPolicy.Limits);
    expect(legacy.state.messages).toBe(legacy.state.last_seq);
    // The other two streams can be brought up to date in place.
    const counters = await jsm.streams.info(counterStreamName('EVENTS'));
    expect(counters.config.max_msgs_per_subject).toBe(1);
    expect(counters.state.messages).toBeLessThanOrEqual(6);
    expect((await jsm.streams.info(deadLetterStreamName('EVENTS'))).config).toMatchObject({ max_age: 0, max_bytes: DEAD_LETTERS });

    // docs/operations.md: stop ingest, wait until everything is stored, delete the stream; the
    // consumer exits and its restart recreates the stream as a work queue after the stored sequences.
    await ingest.stop('SIGTERM');
    await pollUntil(
      () => jsm.consumers.info('EVENTS', 'event-writer'),
      (c) => c.num_pending === 0 && c.num_ack_pending === 0,
      { what: 'the legacy stream drained', timeoutMs: 30_000 },
    );
    await jsm.streams.delete('EVENTS');
    expect(await consumer.exited).toBe(1);
    await stack.start('consumer');
    const converted = await jsm.streams.info('EVENTS');
    expect(converted.config).toMatchObject({
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_bytes: BUFFER,
      max_age: 0,
    });
    expect(converted.config.first_seq).toBe(legacy.state.last_seq + 1);
    ingest = await stack.start('ingest');
    const w2 = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed: 45 });
    const sent2 = await sendEvents(w2.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    const total = { unique: w1.unique + w2.unique, duplicates: w1.duplicates + w2.duplicates };
    expectExact(await settled(ingest.url, total.unique), total, { retriedEvents: sent1.retriedEvents + sent2.retriedEvents });
    expect((await jsm.streams.info('EVENTS')).state.messages).toBe(0);
  });
});
