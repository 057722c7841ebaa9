// processed_events pre-filled with N rows, as a table that has stored N events would hold them: what
// `npm run bench -- --prefill N` measures each mode against (the empty table being the other side).
// Rows come from SQL generate_series in PostgreSQL itself (no round trip per row), with random
// UUID event_ids (gen_random_uuid: the unique index on (topic, event_id) is written at random
// places, as real clients' ids do), the workload's topics, and the counters that go with them.
import type pg from 'pg';
import { DEFAULT_TOPICS } from '../../load/workload.ts';

export interface PrefillOptions {
  rows: number;
  topics?: readonly string[];
  /** Rows per INSERT statement: progress is reported per statement, and a Ctrl-C loses at most one. */
  chunkRows?: number;
  /** Stored events arrived at this rate (received_at spread over the past, ending now). */
  eventsPerSecond?: number;
  /** Called after each statement, with the rows stored so far. */
  progress?: (rowsDone: number) => void;
}

export interface Prefill {
  rows: number;
  topics: readonly string[];
  /** Unique events per topic, as stored in topic_counters. */
  counts: Map<string, number>;
  fillSeconds: number;
  indexSeconds: number;
  vacuumSeconds: number;
  /** processed_events with its indexes and TOAST, after the fill. */
  totalBytes: number;
  heapBytes: number;
  /** Each index of processed_events, by name. */
  indexBytes: Record<string, number>;
}

/**
 * Row i (1-based; also its stream sequence and id) belongs to topics[(i - 1) % topics.length]:
 * the workload's mix (every topic equally likely), spread evenly through the table, and exact per
 * topic without counting the rows afterwards.
 */
export function topicCounts(rows: number, topics: readonly string[]): Map<string, number> {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError('rows must be a non-negative integer');
  if (topics.length === 0) throw new RangeError('at least one topic');
  const per = Math.floor(rows / topics.length);
  const rest = rows % topics.length;
  return new Map(topics.map((t, k) => [t, per + (k < rest ? 1 : 0)]));
}

/** The inclusive sequence ranges [from, to] of the INSERT statements, in order, covering 1..rows. */
export function fillChunks(rows: number, chunkRows: number): Array<[number, number]> {
  if (!(chunkRows >= 1)) throw new RangeError('chunkRows must be at least 1');
  const out: Array<[number, number]> = [];
  for (let from = 1; from <= rows; from += chunkRows) out.push([from, Math.min(rows, from + chunkRows - 1)]);
  return out;
}

// The columns an event arriving through ingest gets, about as wide as the workload's (a UUID, a
// source, a ~60-byte payload): received_at one row per 1/$5 s ending at $4, committed 5 ms later.
const FILL_SQL = `
  INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, stream_seq, received_at, persisted_at)
  SELECT ($3::text[])[1 + (i - 1) % cardinality($3::text[])], gen_random_uuid()::text, t - interval '1 ms', 'svc-' || i % 8,
         jsonb_build_object('n', i, 'amount', (i * 7919 % 1000000) / 100.0, 'tags', jsonb_build_array('demo', 'prefill')),
         i, t, t + interval '5 ms'
  FROM generate_series($1::bigint, $2::bigint) i,
       LATERAL (SELECT $4::timestamptz - make_interval(secs => ($6::bigint - i) / $5::float8) AS t) x`;

// Secondary indexes (not backing a constraint: the primary key stays) are dropped for the fill and
// built again after it: building one by sorting is much faster than 10M random inserts into it.
const SECONDARY_INDEXES_SQL = `
  SELECT c.relname AS name, pg_get_indexdef(x.indexrelid) AS def
  FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
  WHERE x.indrelid = 'processed_events'::regclass
    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
  ORDER BY c.relname`;

const seconds = (t0: number) => +((performance.now() - t0) / 1000).toFixed(1);

/**
 * Fills an empty, migrated database's processed_events with `rows` rows (stream sequences 1..rows),
 * sets topic_counters and the stream high-water mark to match (so /stats and the next stream's
 * first sequence are what they would be after storing them), and VACUUM ANALYZEs the table, as
 * autovacuum would have by then. Start the apps afterwards: the consumer numbers the stream from
 * rows + 1.
 */
export async function prefill(db: pg.Client, opts: PrefillOptions): Promise<Prefill> {
  const topics = opts.topics ?? DEFAULT_TOPICS;
  const counts = topicCounts(opts.rows, topics);
  const { rows: existing } = await db.query('SELECT 1 FROM processed_events LIMIT 1');
  if (existing.length > 0) throw new Error('prefill needs an empty processed_events');
  const { rows: indexes } = await db.query<{ name: string; def: string }>(SECONDARY_INDEXES_SQL);
  const t0 = performance.now();
  for (const { name } of indexes) await db.query(`DROP INDEX "${name}"`);
  const end = new Date();
  for (const [from, to] of fillChunks(opts.rows, opts.chunkRows ?? 1_000_000)) {
    await db.query(FILL_SQL, [from, to, topics, end, opts.eventsPerSecond ?? 1_000, opts.rows]);
    opts.progress?.(to);
  }
  const fillSeconds = seconds(t0);
  const t1 = performance.now();
  // A session setting: the sorts of the index builds in memory rather than in temp files.
  await db.query("SET maintenance_work_mem = '512MB'");
  for (const { def } of indexes) await db.query(def);
  const indexSeconds = seconds(t1);
  await db.query(`INSERT INTO topic_counters (topic, unique_processed) SELECT * FROM unnest($1::text[], $2::bigint[])`, [
    [...counts.keys()],
    [...counts.values()],
  ]);
  await db.query('UPDATE stream_high_water SET stream_seq = GREATEST(stream_seq, $1) WHERE id', [opts.rows]);
  const t2 = performance.now();
  await db.query('VACUUM ANALYZE processed_events');
  const vacuumSeconds = seconds(t2);
  const { rows: size } = await db.query<{ total: string; heap: string }>(
    `SELECT pg_total_relation_size('processed_events') AS total, pg_relation_size('processed_events') AS heap`,
  );
  const { rows: perIndex } = await db.query<{ name: string; bytes: string }>(
    `SELECT c.relname AS name, pg_relation_size(c.oid) AS bytes
     FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = 'processed_events'::regclass ORDER BY 2 DESC`,
  );
  return {
    rows: opts.rows,
    topics,
    counts,
    fillSeconds,
    indexSeconds,
    vacuumSeconds,
    totalBytes: Number(size[0]!.total),
    heapBytes: Number(size[0]!.heap),
    indexBytes: Object.fromEntries(perIndex.map((r) => [r.name, Number(r.bytes)])),
  };
}

/**
 * Back to the pre-filled state after a run stored events on top of it: the run's rows and
 * duplicate records deleted, the counters as prefill() set them. Cheaper than copying gigabytes
 * for every run: the few thousand deleted rows are left to the VACUUM here (it skips the indexes
 * for so few), and the table is otherwise the same as the one the run before found.
 */
export async function resetToPrefill(db: pg.Client, fill: Prefill): Promise<void> {
  await db.query('DELETE FROM processed_events WHERE stream_seq > $1', [fill.rows]);
  await db.query('TRUNCATE duplicate_events');
  await db.query('DELETE FROM topic_counters');
  await db.query(`INSERT INTO topic_counters (topic, unique_processed) SELECT * FROM unnest($1::text[], $2::bigint[])`, [
    [...fill.counts.keys()],
    [...fill.counts.values()],
  ]);
  await db.query('VACUUM processed_events');
}
