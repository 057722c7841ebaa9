import { readFileSync } from 'node:fs';
import { driverAdapterOf, type Db } from '../../shared/db/prisma.ts';
import type { Delivery } from '../../shared/decode.ts';
import { rowsToInsert } from './insert-plan.ts';

/** The batch statement (persist.sql), read once. The build copies it next to the bundle (dist/apps/). */
const PERSIST_SQL = readFileSync(new URL('./persist.sql', import.meta.url), 'utf8');

export interface PersistOutcome {
  /** Rows this batch inserted (new events). */
  inserted: Delivery[];
  /** Deliveries the database rejected as duplicates, counted for the first time. */
  duplicates: number;
  /** Deliveries of messages committed earlier (their ack was lost): neither new nor duplicates. */
  redeliveries: number;
}

/** persist.sql's result row, by column name: bigints as text; `inserted` a comma-separated list. */
interface PersistRow {
  inserted: string | null;
  duplicates: string;
  redeliveries: string;
}

/**
 * Persists a batch atomically: new events, the duplicate log, and the per-topic counters, in ONE
 * statement (persist.sql). The caller acks only after it returns, so a crash before the commit
 * loses nothing (the messages are redelivered) and a crash after it counts nothing twice:
 * - a redelivered message whose row is already there has the same stream sequence as that row;
 * - a redelivered duplicate is already in duplicate_events under its own stream sequence.
 *
 * Raw SQL on Prisma's driver adapter (`driverAdapterOf`), because Prisma's query compiler, with
 * `createManyAndReturn` or `$queryRaw`, cost the consumer most of its CPU and several round trips
 * per batch (docs/decisions/0001-consumer-batch-in-one-raw-statement.md). Prisma still owns the schema, the
 * migrations, the pool and the client.
 */
export async function persistBatch(db: Db, deliveries: readonly Delivery[]): Promise<PersistOutcome> {
  const candidates = new Set(rowsToInsert(deliveries).map((d) => d.seq));
  // The messages go to PostgreSQL as they came (decodeDelivery checked them): one JSON array
  // parameter that PostgreSQL parses in C, cheaper than re-encoding each event in JS. Stream
  // sequences and the candidate flags travel beside it, matched by position.
  const events = `[${deliveries.map((d) => d.json).join(',')}]`;
  const seqs = `{${deliveries.map((d) => d.seq).join(',')}}`;
  const candidate = `{${deliveries.map((d) => (candidates.has(d.seq) ? 't' : 'f')).join(',')}}`;
  const adapter = await driverAdapterOf(db);
  const text = { scalarType: 'string', arity: 'scalar' } as const;
  const result = await adapter.queryRaw({ args: [events, seqs, candidate], argTypes: [text, text, text], sql: PERSIST_SQL });
  const row = rowByName<PersistRow>(result.columnNames, result.rows[0]);
  const insertedSeqs = new Set(row.inserted ? row.inserted.split(',').map(Number) : []);
  return {
    inserted: deliveries.filter((d) => insertedSeqs.has(d.seq)),
    duplicates: Number(row.duplicates ?? 0),
    redeliveries: Number(row.redeliveries ?? 0),
  };
}

/** The driver adapter returns rows as arrays in column order; this names them. */
function rowByName<T>(columns: readonly string[], values: readonly unknown[] = []): T {
  return Object.fromEntries(columns.map((name, i) => [name, values[i]])) as T;
}
