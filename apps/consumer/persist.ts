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
  // The messages go to PostgreSQL as they came (decodeMessage validated them): one JSON array
  // parameter that PostgreSQL parses in C; re-encoding each event in JS was ~10% of the consumer's
  // profile. Stream sequences and the candidate flags travel beside it, matched by position.
  const events = `[${deliveries.map((d) => d.json).join(',')}]`;
  const seqs = `{${deliveries.map((d) => d.seq).join(',')}}`;
  const candidate = `{${deliveries.map((d) => (candidates.has(d.seq) ? 't' : 'f')).join(',')}}`;
  const adapter = await driverAdapterOf(db);
  const text = { scalarType: 'string', arity: 'scalar' } as const;
  const result = await adapter.queryRaw({ args: [events, seqs, candidate], argTypes: [text, text, text], sql: `
    WITH input AS (
      SELECT s.seq, s.candidate, e.topic, e.event_id, e.ts, e.source, e.payload, e.received_at
      FROM ROWS FROM (jsonb_to_recordset($1::jsonb)
             AS (topic varchar, event_id varchar, "timestamp" timestamptz, source varchar, payload jsonb, received_at timestamptz))
           WITH ORDINALITY AS e(topic, event_id, ts, source, payload, received_at, n)
      JOIN unnest($2::bigint[], $3::boolean[]) WITH ORDINALITY AS s(seq, candidate, n) USING (n)
    ),
    ins AS (
      INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, stream_seq, received_at)
      SELECT topic, event_id, ts, source, NULLIF(payload, 'null'::jsonb), seq, received_at FROM input WHERE candidate ORDER BY topic, event_id
      -- Only the event's identity may conflict quietly. A stream sequence already held by ANOTHER
      -- event means the stream was reset (recreated from seq 1) under this database: that must
      -- fail loudly (the batch is refused, the message dead-lettered), never pass as a redelivery.
      ON CONFLICT (topic, event_id) DO NOTHING
      RETURNING stream_seq, topic
    ),
    rejected AS (SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.stream_seq = i.seq)),
    -- The statement's snapshot predates its own inserts: a match here was stored by an earlier commit.
    redelivered AS (
      SELECT r.seq FROM rejected r
      JOIN processed_events p ON p.stream_seq = r.seq AND p.topic = r.topic AND p.event_id = r.event_id
    ),
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
    -- A comma-separated list, not an int8[]: node-postgres parses arrays character by character in JS.
    SELECT (SELECT string_agg(stream_seq::text, ',') FROM ins) AS inserted,
           (SELECT count(*) FROM dups) AS duplicates,
           (SELECT count(*) FROM redelivered) AS redeliveries,
           (SELECT count(*) FROM counted) AS topics` });
  // Rows come back as arrays in the SELECT's column order; bigints as strings.
  const [inserted, duplicates, redeliveries] = (result.rows[0] ?? []) as [string | null, string, string];
  const insertedSeqs = new Set(inserted ? inserted.split(',').map(Number) : []);
  return {
    inserted: deliveries.filter((d) => insertedSeqs.has(d.seq)),
    duplicates: Number(duplicates ?? 0),
    redeliveries: Number(redeliveries ?? 0),
  };
}
