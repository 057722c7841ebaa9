// Infrastructure faults during a steady workload, against real processes on loopback. Each test
// ends with the counts checked: nothing that got a 202 is lost, nothing is stored twice.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { checkCounts } from '../../load/count-check.ts';
import { firstOccurrences, generateWorkload } from '../../load/workload.ts';
import type { Event } from '../../shared/event.ts';
import { expectStoredExactly, postJson, startTestStack, type TestStack } from './support.ts';
import { pollUntil } from '../../load/poll.ts';
import { sleep } from '../../shared/retry.ts';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

// Short ack wait so messages held by a killed consumer come back within the test's time.
const FAST_REDELIVERY = { CONSUMER_ACK_WAIT_MS: '2000' };

async function settledStats(url: string, unique: number) {
  return waitForStats(url, (s) => s.unique_processed >= unique && s.queue_depth === 0, 90_000);
}

/**
 * What must hold after any fault: every event stored once, with its contents (read from the table,
 * not from the counters), and every delivery counted once.
 */
async function expectExact(s: StatsReply, sent: readonly Event[]) {
  const stored = firstOccurrences(sent);
  expect(s.database_rows).toBe(stored.length);
  expect(s.unique_processed).toBe(stored.length);
  expect(s.received).toBe(s.unique_processed + s.duplicate_dropped);
  await expectStoredExactly(stack!, stored);
}

describe('faults', () => {
  it('kill -9 of a consumer mid-batch: no loss, no extra row, counters exact', async () => {
    stack = await startTestStack(FAST_REDELIVERY);
    const victim = await stack.start('consumer', { BATCH_SIZE: '200' });
    const ingest = await stack.start('ingest');
    const w = generateWorkload({ events: 8_000, duplicateRate: 0.3, seed: 21 });
    const sending = sendEvents(w.events, { baseUrl: ingest.url, batchSize: 20, concurrency: 8 });
    await sleep(700);
    await victim.stop('SIGKILL');
    await stack.start('consumer');
    expect((await sending).failed).toBe(0);
    const s = await settledStats(ingest.url, w.unique);
    await expectExact(s, w.events);
    // Every retry-free request was delivered once, so the duplicate count is exact too.
    expect(s.duplicate_dropped).toBe(w.duplicates);
  });

  it('kill -9 of an ingest with requests in flight: clients retry elsewhere, nothing lost or doubled', async () => {
    stack = await startTestStack();
    await stack.start('consumer');
    const [a, b] = await Promise.all([stack.start('ingest'), stack.start('ingest')]);
    const w = generateWorkload({ events: 8_000, duplicateRate: 0.3, seed: 22 });
    const sending = sendEvents(w.events, { baseUrl: [a.url, b.url], batchSize: 10, concurrency: 16 });
    await sleep(300);
    await a.stop('SIGKILL');
    const sent = await sending;
    expect(sent.failed).toBe(0);
    expect(sent.retries).toBeGreaterThan(0);
    const s = await settledStats(b.url, w.unique);
    await expectExact(s, w.events);
    // A request whose 202 was lost with the process is retried: a real second delivery, caught by
    // the broker and counted as a duplicate. So duplicates ≥ the workload's, by at most the events
    // in retried requests.
    expect(sent.retriedEvents).toBeGreaterThan(0);
    expect(checkCounts({ unique: s.unique_processed, duplicates: s.duplicate_dropped }, w, sent.retriedEvents)).toMatchObject({
      exact: true,
    });
  });

  it('PostgreSQL stopped for seconds: ingest stays ready and accepting, reads answer 503; consumer stays up, reports not ready, catches up, loses nothing', async () => {
    stack = await startTestStack();
    const consumer = await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const w = generateWorkload({ events: 6_000, duplicateRate: 0.3, seed: 23 });
    const first = await sendEvents(w.events.slice(0, 2_000), { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    await stack.pg.stop();
    // Ingest keeps accepting while PostgreSQL is down: JetStream holds the events.
    const during = await sendEvents(w.events.slice(2_000, 4_000), { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    await waitForReadyz(consumer.url, 503);
    // ...and stays in its Service: readiness is "can publish", not "PostgreSQL is up".
    expect((await fetch(`${ingest.url}/readyz`)).status).toBe(200);
    for (const path of ['/stats', '/events?limit=1']) {
      const res = await fetch(ingest.url + path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after'), path).toBeTruthy();
    }
    await sleep(3_000);
    expect(consumer.proc.exitCode).toBeNull();
    await stack.pg.start();
    const after = await sendEvents(w.events.slice(4_000), { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
    expect(first.failed + during.failed + after.failed).toBe(0);
    await waitForReadyz(consumer.url, 200);
    const s = await settledStats(ingest.url, w.unique);
    await expectExact(s, w.events);
    expect(s.duplicate_dropped).toBe(w.duplicates);
  });

  it('ingest starts and is ready while PostgreSQL is down; reads work once it is back', async () => {
    stack = await startTestStack();
    await stack.start('consumer');
    await stack.pg.stop();
    // startApp waits for /readyz: it must not need PostgreSQL.
    const ingest = await stack.start('ingest');
    const w = generateWorkload({ events: 1_000, duplicateRate: 0.3, seed: 31 });
    expect((await sendEvents(w.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    expect((await fetch(`${ingest.url}/stats`)).status).toBe(503);
    await stack.pg.start();
    await expectExact(await settledStats(ingest.url, w.unique), w.events);
  });

  it('nats-server restarted: ingest answers 503 meanwhile, clients retry, every 202 is stored', async () => {
    stack = await startTestStack();
    await stack.start('consumer');
    const ingest = await stack.start('ingest', { PUBLISH_TIMEOUT_MS: '1000' });
    const w = generateWorkload({ events: 6_000, duplicateRate: 0.3, seed: 24 });
    const sending = sendEvents(w.events, { baseUrl: ingest.url, batchSize: 20, concurrency: 8, maxAttempts: 30 });
    await sleep(400);
    await stack.nats.stop();
    const down = await fetch(`${ingest.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(w.events[0]),
    });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBeTruthy();
    await sleep(2_000);
    await stack.nats.start();
    const sent = await sending;
    expect(sent.failed).toBe(0);
    const s = await settledStats(ingest.url, w.unique);
    await expectExact(s, w.events);
  });

  it('NATS lost its stream, PostgreSQL kept the events: the restarted consumer recreates it after the stored sequences, exact', async () => {
    stack = await startTestStack();
    const before = [await stack.start('consumer'), await stack.start('ingest')];
    const w1 = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 27 });
    expect((await sendEvents(w1.events, { baseUrl: before[1]!.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    await settledStats(before[1]!.url, w1.unique);
    await Promise.all(before.map((p) => p.stop('SIGTERM')));
    // What losing NATS's volume does to the event stream (the counter stream is kept here, so the
    // broker-duplicate counts carry on and the totals below can be checked exactly).
    const nc = await connect({ servers: stack.nats.url });
    const jsm = await jetstreamManager(nc);
    const lastSeq = (await jsm.streams.info('EVENTS')).state.last_seq;
    await jsm.streams.delete('EVENTS');

    // The consumer recreates the topology (ingest only waits for it: its /readyz stays 503 until then).
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    // A stream counting from 1 again would collide with the stored rows: every new event refused,
    // then dead-lettered.
    expect((await jsm.streams.info('EVENTS')).config.first_seq).toBe(lastSeq + 1);
    await nc.close();
    const w2 = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 28 });
    expect((await sendEvents(w2.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    const s = await settledStats(ingest.url, w1.unique + w2.unique);
    await expectExact(s, [...w1.events, ...w2.events]);
    expect(s.duplicate_dropped).toBe(w1.duplicates + w2.duplicates);
    expect(s.dead_lettered).toBe(0);
  });

  it('the event stream deleted under running apps: the consumer exits, its restart recreates the stream, ingest recovers, exact', async () => {
    stack = await startTestStack();
    const first = await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const w1 = generateWorkload({ events: 1_000, duplicateRate: 0.3, seed: 29 });
    expect((await sendEvents(w1.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    await settledStats(ingest.url, w1.unique);
    const nc = await connect({ servers: stack.nats.url });
    const jsm = await jetstreamManager(nc);
    const lastSeq = (await jsm.streams.info('EVENTS')).state.last_seq;
    await jsm.streams.delete('EVENTS');
    // Left to the client's default it would wait forever for someone to recreate the stream.
    expect(await first.exited).toBe(1);
    await stack.start('consumer');
    expect((await jsm.streams.info('EVENTS')).config.first_seq).toBe(lastSeq + 1);
    await nc.close();
    // The same ingest process, never restarted, publishes into the recreated stream.
    const w2 = generateWorkload({ events: 1_000, duplicateRate: 0.3, seed: 30 });
    expect((await sendEvents(w2.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4, maxAttempts: 30 })).failed).toBe(0);
    const s = await settledStats(ingest.url, w1.unique + w2.unique);
    await expectExact(s, [...w1.events, ...w2.events]);
    expect(s.duplicate_dropped).toBe(w1.duplicates + w2.duplicates);
  });

  it('SIGTERM to every process during load (rolling restart): graceful drain, nothing lost', async () => {
    stack = await startTestStack(FAST_REDELIVERY);
    const c1 = await stack.start('consumer');
    const [i1, i2] = await Promise.all([stack.start('ingest'), stack.start('ingest')]);
    const w = generateWorkload({ events: 8_000, duplicateRate: 0.3, seed: 25 });
    const urls = [i1.url, i2.url];
    const sending = sendEvents(w.events, { baseUrl: urls, batchSize: 10, concurrency: 8, maxAttempts: 30 });
    await sleep(400);
    // Roll the consumer: start the new one, then SIGTERM the old; it must exit 0 after draining.
    await stack.start('consumer');
    expect(await c1.stop('SIGTERM')).toBe(0);
    // Roll the ingests one at a time, as a Deployment would.
    for (const old of [i1, i2]) {
      const fresh = await stack.start('ingest');
      urls[urls.indexOf(old.url)] = fresh.url;
      expect(await old.stop('SIGTERM')).toBe(0);
    }
    expect((await sending).failed).toBe(0);
    const s = await settledStats(urls[0]!, w.unique);
    await expectExact(s, w.events);
  });

  it('an unstorable message goes to the dead-letter subject, is counted, and does not block the rest', async () => {
    stack = await startTestStack();
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const nc = await connect({ servers: stack.nats.url });
    try {
      const js = jetstream(nc);
      // Someone publishes garbage straight to the stream, bypassing ingest's validation.
      await js.publish('events.poison', 'this is not json', { msgID: 'poison:1' });
      const w = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 26 });
      expect((await sendEvents(w.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
      const s = await waitForStats(
        ingest.url,
        (x) => x.unique_processed >= w.unique && x.queue_depth === 0 && x.dead_lettered === 1,
        30_000,
      );
      expect(s.database_rows).toBe(w.unique);
      await expectStoredExactly(stack, firstOccurrences(w.events));
      const jsm = await jetstreamManager(nc);
      const dead = await jsm.streams.getMessage('EVENTS_DLQ', { last_by_subj: 'dlq.EVENTS.poison' });
      expect(new TextDecoder().decode(dead!.data)).toBe('this is not json');
      expect(dead!.header.get('Dlq-Reason')).toMatch(/not JSON/);
    } finally {
      await nc.close();
    }
  });

  it('a message PostgreSQL refuses is retried up to max_deliver, then dead-lettered; its batch-mates are stored', async () => {
    stack = await startTestStack({ CONSUMER_MAX_DELIVER: '3' });
    await stack.start('consumer', { BATCH_LINGER_MS: '200' });
    const ingest = await stack.start('ingest');
    const nc = await connect({ servers: stack.nats.url });
    try {
      const js = jetstream(nc);
      const event = (id: string, timestamp: string) =>
        JSON.stringify({ topic: 'refused', event_id: id, timestamp, payload: { id }, received_at: new Date().toISOString() });
      // In the form ingest publishes, but February 30th: ingest would have refused it; this one
      // bypasses ingest, and the consumer checks the form, not the calendar, so only PostgreSQL can
      // refuse it. Its neighbours are fine.
      await Promise.all([
        js.publish('events.refused', event('ok-1', '2026-11-26T10:00:00Z'), { msgID: 'refused:ok-1' }),
        js.publish('events.refused', event('bad', '2026-02-30T10:00:00Z'), { msgID: 'refused:bad' }),
        js.publish('events.refused', event('ok-2', '2026-11-26T10:00:00Z'), { msgID: 'refused:ok-2' }),
      ]);
      const s = await waitForStats(ingest.url, (x) => x.dead_lettered === 1 && x.queue_depth === 0, 60_000);
      expect(s.database_rows).toBe(2);
      const stored = (id: string) => ({ topic: 'refused', event_id: id, timestamp: '2026-11-26T10:00:00Z', payload: { id } });
      await expectStoredExactly(stack, [stored('ok-1'), stored('ok-2')]);
      expect(s.topics.refused).toMatchObject({ unique_processed: 2 });
      const jsm = await jetstreamManager(nc);
      const dead = await jsm.streams.getMessage('EVENTS_DLQ', { last_by_subj: 'dlq.EVENTS.refused' });
      expect(dead!.header.get('Dlq-Reason')).toMatch(/database refused it/);
      // Dead-lettered on its last permitted delivery, not before.
      expect(dead!.header.get('Dlq-Deliveries')).toBe('3');
    } finally {
      await nc.close();
    }
  });

  it('a refusal by PostgreSQL lasting 3 s is outlived: redelivered after growing delays and stored, not dead-lettered', async () => {
    // The defaults (10 deliveries, 30 s ack wait): the retry schedule must not depend on the ack wait.
    stack = await startTestStack();
    const db = new pg.Client({ connectionString: stack.pg.url });
    await db.connect();
    try {
      // A real refusal, as a lock timeout would give: PostgreSQL raises while a flag row names the
      // topic. The sequence counts refusals (nextval survives the rollback of the refused insert).
      await db.query(`
        CREATE TABLE refuse_topics (topic text PRIMARY KEY);
        CREATE SEQUENCE refusals;
        CREATE FUNCTION refuse_flagged() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM refuse_topics WHERE topic = NEW.topic) THEN
            PERFORM nextval('refusals');
            RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'lock_not_available';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_flagged BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION refuse_flagged();
        INSERT INTO refuse_topics VALUES ('flaky');
      `);
      const refusals = async () =>
        Number((await db.query('SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM refusals')).rows[0].n);
      await stack.start('consumer');
      const ingest = await stack.start('ingest');
      const event = (topic: string, id: string) => ({ topic, event_id: id, timestamp: '2026-11-26T10:00:00Z' });
      const body = [event('flaky', 'f-1'), ...Array.from({ length: 20 }, (_, i) => event('steady', `s-${i}`))];
      expect((await postJson(`${ingest.url}/publish`, body)).status).toBe(202);

      await pollUntil(refusals, (n) => n > 0, { what: 'PostgreSQL refusing the event', timeoutMs: 20_000, intervalMs: 20 });
      const firstRefusal = Date.now();
      await sleep(3_000);
      await db.query('DELETE FROM refuse_topics');
      // Each delivery is refused twice (its batch, then the message alone). Without a delay all 10
      // deliveries were spent (and the message dead-lettered) within about a second.
      const refusedDuring3s = await refusals();
      const s = await waitForStats(
        ingest.url,
        (x) => x.dead_lettered > 0 || (x.unique_processed === body.length && x.queue_depth === 0),
        30_000,
      );
      const storedAfterMs = Date.now() - firstRefusal;
      expect(s.dead_lettered).toBe(0);
      expect(s.database_rows).toBe(body.length);
      await expectStoredExactly(stack, body);
      expect(s.topics.flaky).toMatchObject({ unique_processed: 1 });
      expect(refusedDuring3s).toBeGreaterThanOrEqual(4);
      expect(refusedDuring3s).toBeLessThanOrEqual(10);
      // Delays 0.5, 1, 2, 4 s: the delivery at 3.5 s (or 7.5 s, if that one came just before the
      // flag went) stores it. The consumer's ack-wait backoff, if it leaked into the delays, would
      // put the third delivery past 30 s.
      expect(storedAfterMs).toBeLessThan(12_000);
    } finally {
      await db.end();
    }
  });
});

async function waitForReadyz(url: string, status: number) {
  await pollUntil(
    () =>
      fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      ),
    (got) => got === status,
    {
      what: `${url}/readyz answering ${status}`,
      timeoutMs: 20_000,
      intervalMs: 200,
    },
  );
}
