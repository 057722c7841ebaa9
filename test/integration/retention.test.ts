// Retention in accelerated time: a 2 s horizon purged every 500 ms stands in for days purged every
// minute. What must hold: the tables stay bounded under a continuous load, /stats stays exact
// (cumulative counters; database_rows what the table holds now), no insert waits on the purge, a
// row above the consumer's ack floor is never purged, and a stream recreated after everything was
// purged still numbers past every sequence ever stored. Not in the 3-node run (`test:nats-cluster`):
// the purge is PostgreSQL's, the same behind one nats-server or three.
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import { generateWorkload } from '../../load/workload.ts';
import { RetentionPurger } from '../../apps/consumer/retention.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';
import { startLocalStack, type LocalStack } from '../../scripts/lib/stack.ts';
import { createPrisma } from '../../shared/db/prisma.ts';
import { nextStreamSequence } from '../../apps/consumer/stream-sequence.ts';
import { pollUntil } from '../../load/poll.ts';
import { sleep } from '../../shared/retry.ts';
import { postJson } from './support.ts';

const RETENTION_MS = 2_000;
const INTERVAL_MS = 500;
/** Every statement that waits on a lock for longer than this is logged by PostgreSQL. */
const LOCK_WAIT_LOGGED = { log_lock_waits: 'on', deadlock_timeout: '100ms' };

let stack: LocalStack | undefined;
let pgServer: Postgres | undefined;
const clients: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  await stack?.stop();
  stack = undefined;
  await pgServer?.remove();
  pgServer = undefined;
});

async function sql(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return async <T = Record<string, string>>(text: string, params: unknown[] = []) => (await client.query(text, params)).rows as T[];
}

describe('retention', () => {
  it('purges only at or below the ack floor, by stream sequence, in batches, one purger at a time; the marks survive', async () => {
    pgServer = await startPostgres();
    migrate(pgServer.url);
    const q = await sql(pgServer.url);
    // Sequences 1..100 persisted an hour ago, in sequence order; every tenth a logged duplicate.
    // 101..120 persisted now.
    await q(`
      INSERT INTO processed_events (topic, event_id, "timestamp", stream_seq, received_at, persisted_at)
      SELECT 't', 'e' || s, now(), s, now(), CASE WHEN s <= 100 THEN now() - interval '1 hour' + s * interval '1 ms' ELSE now() END
      FROM generate_series(1, 120) s WHERE s % 10 <> 0 OR s > 100`);
    await q(`
      INSERT INTO duplicate_events (stream_seq, topic, event_id, received_at)
      SELECT s, 't', 'e' || (s - 1), now() FROM generate_series(10, 100, 10) s`);
    const purger = new RetentionPurger(pgServer.url, { retentionMs: 60_000, batchRows: 7, pauseMs: 0 }, undefined);
    try {
      const marks = async () =>
        (
          await q<{ mark: string; purged_p: string; purged_d: string; p: string; d: string }>(`
            SELECT (SELECT stream_seq FROM stream_high_water) AS mark, (SELECT processed_events FROM purged_rows) AS purged_p,
                   (SELECT duplicate_events FROM purged_rows) AS purged_d,
                   (SELECT count(*) FROM processed_events) AS p, (SELECT count(*) FROM duplicate_events) AS d`)
        )[0]!;

      // The consumer has acknowledged up to 50: 51.. may still be redelivered, so they stay.
      expect(await purger.purge(50)).toEqual({ ran: true, bound: 50, processed: 45, duplicates: 5 });
      expect(await marks()).toEqual({ mark: '50', purged_p: '45', purged_d: '5', p: '65', d: '5' });
      expect((await q(`SELECT min(stream_seq) AS m FROM processed_events`))[0]!.m).toBe('51');

      // Another session holds the lock (another replica purging): this one does nothing.
      const other = await sql(pgServer.url);
      await other(`SELECT pg_advisory_lock(hashtext('pubsub-aggregator retention purge'))`);
      expect(await purger.purge(1_000)).toEqual({ ran: false, bound: 0, processed: 0, duplicates: 0 });
      await other(`SELECT pg_advisory_unlock(hashtext('pubsub-aggregator retention purge'))`);

      // Acknowledged far ahead: the bound is the last row persisted before the horizon (99; 100 is
      // a duplicate record), and the rows persisted now stay.
      expect(await purger.purge(1_000)).toEqual({ ran: true, bound: 99, processed: 45, duplicates: 4 });
      expect(await marks()).toEqual({ mark: '99', purged_p: '90', purged_d: '9', p: '20', d: '1' });

      // Everything old: both tables empty, and the next stream still starts past 120.
      await q(`UPDATE processed_events SET persisted_at = now() - interval '1 hour' + stream_seq * interval '1 ms'`);
      expect(await purger.purge(1_000)).toMatchObject({ bound: 120, processed: 20, duplicates: 1 });
      expect(await marks()).toEqual({ mark: '120', purged_p: '110', purged_d: '10', p: '0', d: '0' });
      const db = createPrisma(pgServer.url, 1);
      try {
        expect(await nextStreamSequence(db)).toBe(121);
      } finally {
        await db.$disconnect();
      }
    } finally {
      await purger.close();
    }
  });

  it(
    'a 2 s retention under a continuous load: rows flat, /stats exact, no insert waits; a re-send past the horizon is new; ' +
      'a stream recreated after everything was purged numbers past it',
    async () => {
      stack = await startLocalStack(
        {
          EVENTS_RETENTION_MS: String(RETENTION_MS),
          RETENTION_PURGE_INTERVAL_MS: String(INTERVAL_MS),
          RETENTION_BATCH_ROWS: '500',
          RETENTION_BATCH_PAUSE_MS: '20',
          STREAM_DUPLICATE_WINDOW_MS: '1000',
        },
        { stopSignal: 'SIGKILL', postgresSettings: LOCK_WAIT_LOGGED, appLogs: 'files' },
      );
      const q = await sql(stack.pg.url);
      expect((await q<{ log_lock_waits: string }>('SHOW log_lock_waits'))[0]!.log_lock_waits).toBe('on');
      const count = async () => Number((await q<{ n: string }>('SELECT count(*) AS n FROM processed_events'))[0]!.n);
      let consumer = await stack.start('consumer');
      const ingest = await stack.start('ingest');

      // ~800 new rows/s for 24 s: every 250 ms a slice of 250 events, 20% of them re-sends of an
      // event of the same slice (a re-send seconds later would be past the horizon: a new event).
      const SLICES = 96;
      const slices = Array.from({ length: SLICES }, (_, i) => generateWorkload({ events: 250, duplicateRate: 0.2, seed: 2_100 + i }));
      const samples: Array<{ at: number; rows: number }> = [];
      const started = Date.now();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push({ at: Date.now() - started, rows: await count() });
          await sleep(250);
        }
      })();
      for (const [i, w] of slices.entries()) {
        const sent = await sendEvents(w.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 });
        expect(sent.failed).toBe(0);
        await sleep(Math.max(0, started + (i + 1) * 250 - Date.now()));
      }
      const unique = slices.reduce((n, w) => n + w.unique, 0);
      const duplicates = slices.reduce((n, w) => n + w.duplicates, 0);
      let s = await waitForStats(ingest.url, (x) => x.unique_processed >= unique && x.queue_depth === 0, 60_000);
      sampling = false;
      await sampler;

      // Bounded: past the first horizon the table holds about 2.5 s of rows (~2,000), never the
      // 19,200 sent. The bound leaves room for a slow purge round on a busy machine.
      const rate = unique / (SLICES / 4);
      const late = samples.filter((x) => x.at > 6_000).map((x) => x.rows);
      expect(Math.max(...late)).toBeLessThan(rate * ((RETENTION_MS + INTERVAL_MS) / 1000 + 3));
      expect(samples.at(-1)!.rows).toBeLessThan(unique / 4);
      // Exact and cumulative: every event counted once, as new or as duplicate.
      expect(s.unique_processed).toBe(unique);
      expect(s.duplicate_dropped).toBe(duplicates);
      expect(s.received).toBe(s.unique_processed + s.duplicate_dropped);
      expect(s.dead_lettered).toBe(0);
      const purgedMetric = await metricSum(consumer.url, 'consumer_retention_rows_purged_total{table="processed_events"');
      expect(purgedMetric).toBeGreaterThan(unique / 2);
      const tableBytes = await metricSum(consumer.url, 'postgres_table_size_bytes{table="processed_events"');
      expect(tableBytes).toBeGreaterThan(0);
      // The dedup index against PostgreSQL's buffers (PubsubDedupIndexOutgrowingMemory).
      const indexBytes = await metricSum(consumer.url, 'postgres_index_size_bytes{index="processed_events_topic_event_id_key"');
      expect(indexBytes).toBeGreaterThan(0);
      expect(indexBytes).toBeLessThan(tableBytes);
      const [buffers] = await q<{ b: string }>("SELECT pg_size_bytes(current_setting('shared_buffers'))::text AS b");
      expect(await metricSum(consumer.url, 'postgres_shared_buffers_bytes')).toBe(Number(buffers!.b));
      expect(await metricSum(consumer.url, 'consumer_retention_lag_seconds')).toBeLessThan(5);

      // A re-send of an event purged long ago, after the broker's dedup window: exactly once holds
      // within the retention horizon, so it is a new event, stored and counted again.
      const old = slices[0]!.events[0]!;
      const rowsOf = async () =>
        Number(
          (
            await q<{ n: string }>('SELECT count(*) AS n FROM processed_events WHERE topic = $1 AND event_id = $2', [
              old.topic,
              old.event_id,
            ])
          )[0]!.n,
        );
      expect(await rowsOf()).toBe(0);
      const resend = await postJson(`${ingest.url}/publish`, old);
      expect(resend.status).toBe(202);
      expect(resend.body).toMatchObject({ accepted: 1, duplicates: 0 });
      s = await waitForStats(ingest.url, (x) => x.unique_processed === unique + 1 && x.queue_depth === 0, 30_000);
      expect(s.duplicate_dropped).toBe(duplicates);

      // database_rows is what the table holds, read with no purge running in between.
      await consumer.stop('SIGTERM');
      s = await waitForStats(ingest.url, () => true, 10_000);
      const rows = await count();
      expect(rows).toBeGreaterThan(0);
      expect(s.database_rows).toBe(rows);

      // No statement waited on a lock for 100 ms or more: PostgreSQL logs each one that did.
      const pgLog = readFileSync(stack.pg.logFile, 'utf8');
      expect(pgLog).not.toMatch(/still waiting for/);

      // Everything purged, then the stream lost: the recreated one numbers past the last sequence,
      // which only the high-water mark still knows.
      consumer = await stack.start('consumer');
      await pollUntil(
        () =>
          q<{ p: string; d: string }>('SELECT (SELECT count(*) FROM processed_events) AS p, (SELECT count(*) FROM duplicate_events) AS d'),
        (r) => r[0]!.p === '0' && r[0]!.d === '0',
        { what: 'both tables purged', timeoutMs: 20_000, intervalMs: 200 },
      );
      await consumer.stop('SIGTERM');
      s = await waitForStats(ingest.url, () => true, 10_000);
      expect(s.database_rows).toBe(0);
      expect(s.unique_processed).toBe(unique + 1);
      const nc = await connect({ servers: stack.nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const lastSeq = (await jsm.streams.info('EVENTS')).state.last_seq;
        expect(Number((await q<{ m: string }>('SELECT stream_seq AS m FROM stream_high_water'))[0]!.m)).toBe(lastSeq);
        await jsm.streams.delete('EVENTS');
        await stack.start('consumer');
        expect((await jsm.streams.info('EVENTS')).config.first_seq).toBe(lastSeq + 1);
      } finally {
        await nc.close();
      }
      // A new event gets the next sequence and is stored, not refused as a reused one.
      const fresh = { topic: 'orders.created', event_id: 'after-the-purge', timestamp: '2026-12-06T10:00:00Z' };
      await pollUntil(
        () => postJson(`${ingest.url}/publish`, fresh),
        (r) => r.status === 202,
        { what: 'ingest publishing into the recreated stream', timeoutMs: 30_000, intervalMs: 200 },
      );
      s = await waitForStats(ingest.url, (x) => x.unique_processed === unique + 2 && x.queue_depth === 0, 30_000);
      expect(s.dead_lettered).toBe(0);
      expect(s.received).toBe(s.unique_processed + s.duplicate_dropped);
      expect(readFileSync(stack.pg.logFile, 'utf8')).not.toMatch(/still waiting for/);
    },
    120_000,
  );
});

async function metricSum(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
