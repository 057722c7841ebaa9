// With --prefill: where a bigger table costs PostgreSQL, as WAL bytes written and index blocks read
// into shared buffers per event over a run.
import type pg from 'pg';

export interface IoSnapshot {
  lsn: string;
  reads: Record<string, number>;
}

export interface IoPerEvent {
  wal_bytes_per_event: number;
  index_reads_per_event: Record<string, number>;
}

const IO_SQL = `
  SELECT pg_current_wal_lsn()::text AS lsn,
         (SELECT json_object_agg(indexrelname, idx_blks_read) FROM pg_statio_user_indexes WHERE relname = 'processed_events') AS reads`;

export async function ioOf(c: pg.Client): Promise<IoSnapshot> {
  return (await c.query<IoSnapshot>(IO_SQL)).rows[0]!;
}

export async function ioDelta(c: pg.Client, from: IoSnapshot, events: number): Promise<IoPerEvent> {
  const to = await ioOf(c);
  const wal = (await c.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS b', [to.lsn, from.lsn])).rows[0]!.b;
  return {
    wal_bytes_per_event: Math.round(Number(wal) / events),
    index_reads_per_event: Object.fromEntries(
      Object.entries(to.reads).map(([name, n]) => [name, +((n - (from.reads[name] ?? 0)) / events).toFixed(3)]),
    ),
  };
}
