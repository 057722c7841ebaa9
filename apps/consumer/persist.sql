-- One consumer batch, in one statement (one round trip, one implicit transaction): new events,
-- the duplicate log and the per-topic counters. Parameters, matched by position:
--   $1  the messages as they came, one JSON array (the events plus received_at)
--   $2  their stream sequences, {1,2,...}
--   $3  whether each may be inserted, {t,f,...}: one per (topic, event_id) per batch, the earliest
--       sequence (apps/consumer/insert-plan.ts)
-- Lock order: rows are inserted sorted by (topic, event_id) and counters by topic, so concurrent
-- batches from several consumer processes queue behind each other but never deadlock.
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
)
-- A data-modifying WITH runs to completion whether or not the final SELECT reads it, so `counted`
-- needs no output. A comma-separated list, not an int8[]: node-postgres parses arrays character by
-- character in JS.
SELECT (SELECT string_agg(stream_seq::text, ',') FROM ins) AS inserted,
       (SELECT count(*) FROM dups) AS duplicates,
       (SELECT count(*) FROM redelivered) AS redeliveries
