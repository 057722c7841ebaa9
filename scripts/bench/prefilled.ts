// --prefill N: one PostgreSQL of its own, filled once (scripts/lib/prefill.ts) and reset after each
// run, that the filled runs use instead of a fresh one.
import pg from 'pg';
import { DEDUP_INDEX } from '../../apps/consumer/retention.ts';
import { migrate, startPostgres, type Postgres } from '../lib/postgres.ts';
import { prefill, resetToPrefill, type Prefill } from '../lib/prefill.ts';

export interface Filled {
  pg: Postgres;
  fill: Prefill;
  /** Seconds a copy of the filled database took (CREATE DATABASE ... TEMPLATE): the alternative to the reset. */
  copySeconds: number;
  /** Seconds each reset to the filled state took (resetToPrefill). */
  resetSeconds: number[];
}

export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/** A PostgreSQL of its own, migrated, its processed_events filled with `rows` rows. */
export async function startFilled(rows: number, settings: Record<string, string> = {}): Promise<Filled> {
  const db = await startPostgres({ settings });
  // Removed on Ctrl-C too: gigabytes in the temp dir otherwise. pg_ctl runs synchronously, before
  // a stack's own handler exits the process.
  const onSignal = () => void db.remove();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    migrate(db.url);
    const fill = await withClient(db.url, (c) =>
      prefill(c, {
        rows,
        progress: (done) => console.error(`[bench] prefill: ${done} of ${rows} rows`),
      }),
    );
    console.error(
      `[bench] prefill: ${rows} rows, insert ${fill.fillSeconds} s, indexes ${fill.indexSeconds} s, vacuum ${fill.vacuumSeconds} s, ${fill.totalBytes} bytes with indexes (${Math.round(fill.totalBytes / rows)} B/row)`,
    );
    // What a fresh copy per run would cost instead of resetToPrefill (FILE_COPY: a file copy and
    // two checkpoints, not the whole database through the WAL), measured once.
    const copySeconds = await withClient(db.url, async (c) => {
      const t0 = performance.now();
      await c.query('CREATE DATABASE prefill_copy TEMPLATE postgres STRATEGY FILE_COPY');
      const s = (performance.now() - t0) / 1000;
      await c.query('DROP DATABASE prefill_copy');
      return s;
    });
    console.error(`[bench] prefill: a copy of the filled database takes ${copySeconds.toFixed(1)} s`);
    // A server that has been taking inserts holds the pages of the (topic, event_id) index it keeps
    // writing, as far as shared_buffers allows; one whose index was just built holds none of them.
    // Loaded once here, so the first filled runs do not pay for a cold start a server pays once.
    const prewarmed = await withClient(db.url, async (c) => {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
      return Number((await c.query<{ n: number }>('SELECT pg_prewarm($1) AS n', [DEDUP_INDEX])).rows[0]!.n);
    });
    console.error(`[bench] prefill: ${prewarmed} blocks of ${DEDUP_INDEX} loaded into shared_buffers`);
    return { pg: db, fill, copySeconds, resetSeconds: [] };
  } catch (err) {
    await db.remove();
    throw err;
  }
}

/** Back to the filled state after a run, timed (the report shows what a reset costs). */
export async function resetFilled(filled: Filled): Promise<void> {
  const t0 = performance.now();
  await withClient(filled.pg.url, (c) => resetToPrefill(c, filled.fill));
  filled.resetSeconds.push((performance.now() - t0) / 1000);
  console.error(`[bench] back to ${filled.fill.rows} rows in ${filled.resetSeconds.at(-1)!.toFixed(1)} s`);
}
