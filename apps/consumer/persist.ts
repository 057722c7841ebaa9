import { driverAdapterOf, type Db } from '../../shared/db/prisma.ts';
import { rowsToInsert, type Delivery } from './decode.ts';

export interface PersistOutcome {
  /** Rows this batch inserted (new events). */
  inserted: Delivery[];
  /** Deliveries the database rejected as duplicates, counted for the first time. */
  duplicates: number;
  /** Deliveries of messages committed earlier (their ack was lost): neither new nor duplicates. */
  redeliveries: number;
}

/**
 * Persists a batch atomically: new events, the duplicate log, and the per-topic counters, in ONE
 * statement (one round trip, one implicit transaction). The caller acks only after it returns, so
 * a crash before the commit loses nothing (the messages are redelivered) and a crash after it
 * counts nothing twice:
 * - a redelivered message whose row is already there has the same stream sequence as that row;
 * - a redelivered duplicate is already in duplicate_events under its own stream sequence.
 *
 * Why raw SQL rather than `createManyAndReturn` + `createManyAndReturn` + an upsert in an
 * interactive transaction: that version spent ~35% of the consumer's CPU in Prisma's query
 * compiler and made five round trips per batch (see bench/RESULTS.md). The statement below does
 * the same work in one. It runs on Prisma's driver adapter (`driverAdapterOf`) rather than
 * `$queryRaw`, which would pass the batch's JSON through the query compiler for nothing (another
 * ~30% of consumer CPU). Prisma still owns the schema, the migrations, the pool and the client.
 *
 * Lock order: rows are inserted sorted by (topic, event_id) and counters by topic, so concurrent
 * batches from several consumer processes queue behind each other but never deadlock.
 */
export async function persistBatch(db: Db, deliveries: readonly Delivery[]): Promise<PersistOutcome> {
  const candidates = new Set(rowsToInsert(deliveries).map((d) => d.seq));
  // One JSON parameter for the whole batch: JSON.stringify is native and PostgreSQL parses it in C,
  // where eight array parameters cost a JS escaping pass per element (see bench/RESULTS.md).
  const rows = JSON.stringify(
    deliveries.map((d) => ({
      seq: d.seq,
      topic: d.event.topic,
      event_id: d.event.event_id,
      // Normalised: RFC 3339 allows forms (lowercase t/z, a space) PostgreSQL need not accept.
      ts: new Date(d.event.timestamp).toISOString(),
      source: d.event.source ?? null,
      payload: d.event.payload ?? null,
      received_at: d.receivedAt.toISOString(),
      candidate: candidates.has(d.seq),
    })),
  );
  const adapter = await driverAdapterOf(db);
  const result = await adapter.queryRaw({ args: [rows], argTypes: [{ scalarType: 'string', arity: 'scalar' }], sql: `
    WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS t(seq bigint, topic varchar, event_id varchar, ts timestamptz, source varchar, payload jsonb,
             received_at timestamptz, candidate boolean)
    ),
    ins AS (
      INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, stream_seq, received_at)
      SELECT topic, event_id, ts, source, NULLIF(payload, 'null'::jsonb), seq, received_at FROM input WHERE candidate ORDER BY topic, event_id
      ON CONFLICT DO NOTHING
      RETURNING stream_seq, topic
    ),
    rejected AS (SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.stream_seq = i.seq)),
    -- The statement's snapshot predates its own inserts: a match here was stored by an earlier commit.
    redelivered AS (SELECT r.seq FROM rejected r JOIN processed_events p ON p.stream_seq = r.seq),
    dups AS (
      INSERT INTO duplicate_events (stream_seq, topic, event_id, received_at)
      SELECT seq, topic, event_id, received_at FROM rejected
      WHERE seq NOT IN (SELECT seq FROM redelivered) ORDER BY seq
      ON CONFLICT DO NOTHING
      RETURNING topic
    ),
    counts AS (
      SELECT topic, sum(u)::bigint AS u, sum(d)::bigint AS d
      FROM (SELECT topic, 1 AS u, 0 AS d FROM ins UNION ALL SELECT topic, 0, 1 FROM dups) x GROUP BY topic
    ),
    counted AS (
      INSERT INTO topic_counters (topic, unique_processed, duplicates_dropped)
      SELECT topic, u, d FROM counts ORDER BY topic
      ON CONFLICT (topic) DO UPDATE SET
        unique_processed = topic_counters.unique_processed + EXCLUDED.unique_processed,
        duplicates_dropped = topic_counters.duplicates_dropped + EXCLUDED.duplicates_dropped
      RETURNING 1
    )
    SELECT (SELECT array_agg(stream_seq) FROM ins) AS inserted,
           (SELECT count(*) FROM dups) AS duplicates,
           (SELECT count(*) FROM redelivered) AS redeliveries,
           (SELECT count(*) FROM counted) AS topics` });
  // Rows come back as arrays in the SELECT's column order; bigints as strings.
  const [inserted, duplicates, redeliveries] = (result.rows[0] ?? []) as [Array<string | number> | null, string, string];
  const insertedSeqs = new Set((inserted ?? []).map(Number));
  return {
    inserted: deliveries.filter((d) => insertedSeqs.has(d.seq)),
    duplicates: Number(duplicates ?? 0),
    redeliveries: Number(redeliveries ?? 0),
  };
}
