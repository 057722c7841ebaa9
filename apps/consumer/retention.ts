import pg from 'pg';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { sleep } from '../../shared/retry.ts';

/** One purger at a time across every consumer replica on this database: a session advisory lock. */
const LOCK_KEY = "hashtext('pubsub-aggregator retention purge')";

export interface RetentionSettings {
  /** Stored events older than this go; 0 keeps everything (the purger then only refreshes gauges). */
  retentionMs: number;
  /** Rows deleted per statement, per table. */
  batchRows: number;
  /** Pause between two statements. */
  pauseMs: number;
}

export interface PurgeOutcome {
  /** False when another replica held the lock (or retention is off): nothing was looked at. */
  ran: boolean;
  /** The stream sequence up to which rows were deleted: min(retention bound, ack floor); 0 = none. */
  bound: number;
  processed: number;
  duplicates: number;
}

// The highest sequence among rows persisted before the horizon, found from the end of the
// persisted_at index (one index probe, whatever the table's size). persisted_at because it is the
// one time with an index: received_at has none, nor has duplicate_events' detected_at (duplicate
// records go by stream sequence with the events around them). Rows are deleted by stream
// sequence up to it, so a row persisted out of order (a message retried for a while) may go up to
// that much earlier than its own age says; nothing is ever kept much longer.
const BOUND_SQL = `
  SELECT stream_seq FROM processed_events
  WHERE persisted_at < now() - make_interval(secs => $1::float8)
  ORDER BY persisted_at DESC LIMIT 1`;

// One batch in one statement, so one transaction: the high-water mark is raised to the highest
// sequence deleted, and the purged-row counts grow by what was deleted, atomically with the
// deletion: a reader sees the rows or the mark and the counts, never neither. Each table is walked
// from where the previous batch stopped ($1, $2), so no batch rescans the dead index entries of
// the one before. A DELETE locks only the rows it deletes; inserts never wait for those, except an
// insert of the very (topic, event_id) being deleted (an event re-sent past the horizon), which
// waits for this one statement. (mark and counted run though nothing reads them: PostgreSQL runs
// every data-modifying WITH exactly once.)
const BATCH_SQL = `
  WITH p AS (
    SELECT stream_seq FROM processed_events WHERE stream_seq > $1::bigint AND stream_seq <= $3::bigint ORDER BY stream_seq LIMIT $4
  ), d AS (
    SELECT stream_seq FROM duplicate_events WHERE stream_seq > $2::bigint AND stream_seq <= $3::bigint ORDER BY stream_seq LIMIT $4
  ), gone_p AS (
    DELETE FROM processed_events e USING p WHERE e.stream_seq = p.stream_seq RETURNING e.stream_seq
  ), gone_d AS (
    DELETE FROM duplicate_events e USING d WHERE e.stream_seq = d.stream_seq RETURNING e.stream_seq
  ), mark AS (
    UPDATE stream_high_water
    SET stream_seq = GREATEST(stream_seq, (SELECT max(stream_seq) FROM gone_p), (SELECT max(stream_seq) FROM gone_d))
    WHERE id RETURNING 1
  ), counted AS (
    UPDATE purged_rows
    SET processed_events = processed_events + (SELECT count(*) FROM gone_p),
        duplicate_events = duplicate_events + (SELECT count(*) FROM gone_d)
    WHERE id RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone_p) AS processed, (SELECT max(stream_seq) FROM p) AS last_p,
         (SELECT count(*) FROM gone_d) AS duplicates, (SELECT max(stream_seq) FROM d) AS last_d`;

/** UNIQUE(topic, event_id): the constraint's index, named by PostgreSQL's convention (prisma/migrations). */
export const DEDUP_INDEX = 'processed_events_topic_event_id_key';

// The table sizes and how far the purge is behind: the oldest row's age past the horizon (the
// min of the persisted_at index, one probe). Cheap, but refreshed at the purge interval rather than
// per scrape: pg_total_relation_size stats every file of the table and its indexes. Beside them,
// the dedup index against shared_buffers: every insert writes that index at a random place, and
// once it outgrows PostgreSQL's buffers inserts slow down (docs/sizing.md, "Memory").
const GAUGES_SQL = `
  SELECT pg_total_relation_size('processed_events') AS processed_bytes,
         pg_total_relation_size('duplicate_events') AS duplicate_bytes,
         pg_relation_size('${DEDUP_INDEX}') AS dedup_index_bytes,
         pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers_bytes,
         extract(epoch FROM (now() - make_interval(secs => $1::float8)) - (SELECT min(persisted_at) FROM processed_events))::float8 AS lag`;

/**
 * Deletes stored events (and duplicate records) past the retention, in batches, on a connection of
 * its own (a session advisory lock needs one session; and the writers' pool stays theirs).
 *
 * Only rows at or below the durable consumer's ack floor may go: the event stream is a work queue,
 * so every message up to the floor is acknowledged and gone, and can never be redelivered. A row
 * above it may belong to a message still unacknowledged (its commit done, its ack not yet); purged,
 * its redelivery would be inserted again and counted twice.
 */
export class RetentionPurger {
  private readonly pool: pg.Pool;

  constructor(
    databaseUrl: string,
    private readonly settings: RetentionSettings,
    private readonly metrics: ConsumerMetrics | undefined,
  ) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 5_000, statement_timeout: 30_000 });
    this.pool.on('error', () => {});
  }

  /**
   * One purge, if this replica gets the lock: everything past the retention and at or below
   * `ackFloor`, batch by batch, until done or `stopping()`.
   */
  async purge(ackFloor: number, stopping: () => boolean = () => false): Promise<PurgeOutcome> {
    const outcome: PurgeOutcome = { ran: false, bound: 0, processed: 0, duplicates: 0 };
    if (this.settings.retentionMs === 0) return outcome;
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      const locked = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
      if (!locked.rows[0]!.locked) return outcome;
      outcome.ran = true;
      try {
        const found = await client.query<{ stream_seq: string }>(BOUND_SQL, [this.settings.retentionMs / 1000]);
        outcome.bound = Math.min(Number(found.rows[0]?.stream_seq ?? 0), ackFloor);
        let fromP = 0;
        let fromD = 0;
        while (outcome.bound > 0 && !stopping()) {
          const r = await client.query<{ processed: string; last_p: string | null; duplicates: string; last_d: string | null }>(BATCH_SQL, [
            fromP,
            fromD,
            outcome.bound,
            this.settings.batchRows,
          ]);
          const row = r.rows[0]!;
          const processed = Number(row.processed);
          const duplicates = Number(row.duplicates);
          outcome.processed += processed;
          outcome.duplicates += duplicates;
          this.metrics?.rowsPurged.inc({ table: 'processed_events' }, processed);
          this.metrics?.rowsPurged.inc({ table: 'duplicate_events' }, duplicates);
          if (processed < this.settings.batchRows && duplicates < this.settings.batchRows) break;
          fromP = Number(row.last_p ?? fromP);
          fromD = Number(row.last_d ?? fromD);
          await sleep(this.settings.pauseMs);
        }
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
      }
      return outcome;
    } catch (err) {
      // Released as broken, the connection is closed: a lock it still held goes with it.
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Table sizes and retention lag into the gauges (every replica reports them; aggregate with max). */
  async refreshGauges(): Promise<void> {
    if (!this.metrics) return;
    const r = await this.pool.query<{
      processed_bytes: string;
      duplicate_bytes: string;
      dedup_index_bytes: string;
      shared_buffers_bytes: string;
      lag: number | null;
    }>(GAUGES_SQL, [this.settings.retentionMs / 1000]);
    const row = r.rows[0]!;
    this.metrics.tableBytes.set({ table: 'processed_events' }, Number(row.processed_bytes));
    this.metrics.tableBytes.set({ table: 'duplicate_events' }, Number(row.duplicate_bytes));
    this.metrics.indexBytes.set({ index: DEDUP_INDEX }, Number(row.dedup_index_bytes));
    this.metrics.sharedBuffersBytes.set(Number(row.shared_buffers_bytes));
    this.metrics.retentionLag.set(this.settings.retentionMs === 0 ? 0 : Math.max(0, row.lag ?? 0));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
