// End to end over real processes: HTTP → ingest → JetStream → consumer → PostgreSQL, counted
// exactly, with one or several ingest and consumer processes sharing one stream.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { firstOccurrences, generateWorkload } from '../../load/workload.ts';
import { expectStoredExactly, postJson, startTestStack, type TestStack } from './support.ts';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const settled = (unique: number) => (s: StatsReply) => s.unique_processed >= unique && s.queue_depth === 0;

describe('pipeline', () => {
  it('stores 20,000 events with 30% duplicates as exactly 14,000 rows, counted exactly', async () => {
    stack = await startTestStack();
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const w = generateWorkload({ events: 20_000, duplicateRate: 0.3, seed: 7 });
    expect(w.unique).toBe(14_000);
    // Most as batches of 100, a slice as single-event requests (the previous service's API).
    const sent = await sendEvents(w.events.slice(0, 18_000), { baseUrl: ingest.url, batchSize: 100, concurrency: 8 });
    const sentSingles = await sendEvents(w.events.slice(18_000), { baseUrl: ingest.url, batchSize: 1, concurrency: 16 });
    expect(sent.failed + sentSingles.failed).toBe(0);
    const s = await waitForStats(ingest.url, settled(14_000), 60_000);
    expect(s.unique_processed).toBe(14_000);
    expect(s.database_rows).toBe(14_000);
    expect(s.duplicate_dropped).toBe(6_000);
    expect(s.received).toBe(20_000);
    expect(s.duplicate_rate_percent).toBe(30);
    expect(s.duplicates_by_layer).toEqual({ broker: 6_000, database: 0 });
    expect(Object.values(s.topics).reduce((n, t) => n + t.unique_processed, 0)).toBe(14_000);
    // The README's "exactly 14,000 rows", from the table itself: database_rows derives from counters.
    await expectStoredExactly(stack, firstOccurrences(w.events));
  });

  it('stays exact with two ingest and two consumer processes on one stream', async () => {
    stack = await startTestStack();
    await Promise.all([stack.start('consumer'), stack.start('consumer', { BATCH_SIZE: '100' })]);
    const ingests = await Promise.all([stack.start('ingest'), stack.start('ingest')]);
    const w = generateWorkload({ events: 10_000, duplicateRate: 0.3, seed: 11 });
    // Every request goes to alternating replicas, so an event and its duplicate often race
    // through different ingest processes.
    const sent = await sendEvents(w.events, { baseUrl: ingests.map((i) => i.url), batchSize: 20, concurrency: 16 });
    expect(sent.failed).toBe(0);
    const s = await waitForStats(ingests[0].url, settled(w.unique), 60_000);
    expect(s.database_rows).toBe(w.unique);
    await expectStoredExactly(stack, firstOccurrences(w.events));
    expect(s.unique_processed).toBe(w.unique);
    expect(s.duplicate_dropped).toBe(w.duplicates);
    expect(s.received).toBe(w.events.length);
    // Both replicas read the same durable state.
    const other = await (await fetch(`${ingests[1].url}/stats`)).json();
    expect(other).toMatchObject({ unique_processed: s.unique_processed, duplicate_dropped: s.duplicate_dropped, received: s.received });
  });

  it('catches in the database a duplicate that arrives after the broker dedup window', async () => {
    stack = await startTestStack({ STREAM_DUPLICATE_WINDOW_MS: '200' });
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const e = { topic: 'late.dup', event_id: randomUUID(), timestamp: '2026-11-26T10:00:00Z' };
    expect((await postJson(`${ingest.url}/publish`, e)).body).toMatchObject({ duplicates: 0 });
    await new Promise((r) => setTimeout(r, 1_500));
    // The window has passed: JetStream takes it as new (a second stream message)...
    expect((await postJson(`${ingest.url}/publish`, e)).body).toMatchObject({ duplicates: 0 });
    const s = await waitForStats(ingest.url, (x) => x.duplicate_dropped === 1 && x.queue_depth === 0, 30_000);
    // ...and PostgreSQL's UNIQUE(topic, event_id) drops it, counted as a database-layer duplicate.
    expect(s.database_rows).toBe(1);
    await expectStoredExactly(stack, [e]);
    expect(s.duplicates_by_layer).toEqual({ broker: 0, database: 1 });
    expect(s.topics['late.dup']).toEqual({ unique_processed: 1, duplicates_db: 1, duplicates_broker: 0 });
    expect(s.received).toBe(2);
  });
});
