// The benchmark's pre-filled table (scripts/lib/prefill.ts): N rows with the workload's topics and
// the counters that go with them, and a pipeline that stores a workload exactly on top of it.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import { DEFAULT_TOPICS, generateWorkload } from '../../load/workload.ts';
import { prefill, resetToPrefill } from '../../scripts/lib/prefill.ts';
import { startTestStack, type TestStack } from './support.ts';

let stack: TestStack | undefined;
let db: pg.Client | undefined;
afterEach(async () => {
  await db?.end();
  await stack?.stop();
  db = stack = undefined;
});

const ROWS = 10_000;

const indexDefs = async (c: pg.Client) =>
  (await c.query<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE tablename = 'processed_events' ORDER BY 1`)).rows.map(
    (r) => r.def,
  );

const topicsOf = async (c: pg.Client, table: 'processed_events' | 'topic_counters') =>
  Object.fromEntries(
    (
      await c.query<{ topic: string; n: string }>(
        table === 'processed_events'
          ? 'SELECT topic, count(*) AS n FROM processed_events GROUP BY topic'
          : 'SELECT topic, unique_processed AS n FROM topic_counters',
      )
    ).rows.map((r) => [r.topic, Number(r.n)]),
  );

describe('prefill', () => {
  it('fills N rows of the workload topics with random ids, counted, and the pipeline stays exact on top', async () => {
    stack = await startTestStack();
    db = new pg.Client({ connectionString: stack.pg.url });
    await db.connect();
    const indexesBefore = await indexDefs(db);
    const fill = await prefill(db, { rows: ROWS, chunkRows: 3_000 });

    const { rows: shape } = await db.query<{ n: string; ids: string; min: string; max: string; uuids: string }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, min(stream_seq) AS min, max(stream_seq) AS max,
              count(*) FILTER (WHERE event_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$') AS uuids
       FROM processed_events`,
    );
    expect(shape[0]).toEqual({ n: String(ROWS), ids: String(ROWS), min: '1', max: String(ROWS), uuids: String(ROWS) });
    const expected = Object.fromEntries(DEFAULT_TOPICS.map((t) => [t, ROWS / DEFAULT_TOPICS.length]));
    expect(await topicsOf(db, 'processed_events')).toEqual(expected);
    expect(await topicsOf(db, 'topic_counters')).toEqual(expected);
    // The indexes dropped for the fill are all back, as the migrations defined them.
    expect(await indexDefs(db)).toEqual(indexesBefore);
    expect(fill.totalBytes).toBeGreaterThan(fill.heapBytes);

    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    const w = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 21 });
    const sent = await sendEvents(w.events, { baseUrl: ingest.url, batchSize: 100, concurrency: 8 });
    expect(sent.failed).toBe(0);
    const s = await waitForStats(ingest.url, (x) => x.unique_processed >= ROWS + w.unique && x.queue_depth === 0, 60_000);
    expect(s.unique_processed).toBe(ROWS + w.unique);
    expect(s.database_rows).toBe(ROWS + w.unique);
    expect(s.duplicate_dropped).toBe(w.duplicates);
    // The stream numbered after the pre-filled rows: every new row has a sequence past them.
    const { rows: added } = await db.query<{ n: string }>('SELECT count(*) AS n FROM processed_events WHERE stream_seq > $1', [ROWS]);
    expect(Number(added[0]!.n)).toBe(w.unique);

    // Back to the filled table for the next benchmark run.
    await Promise.all(stack.apps.map((a) => a.stop('SIGKILL')));
    await resetToPrefill(db, fill);
    expect(await topicsOf(db, 'processed_events')).toEqual(expected);
    expect(await topicsOf(db, 'topic_counters')).toEqual(expected);
    expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM duplicate_events')).rows[0]!.n)).toBe(0);
  });

  it('refuses a table that already holds rows', async () => {
    stack = await startTestStack();
    db = new pg.Client({ connectionString: stack.pg.url });
    await db.connect();
    await prefill(db, { rows: 10 });
    await expect(prefill(db, { rows: 10 })).rejects.toThrow(/empty/);
  });
});
