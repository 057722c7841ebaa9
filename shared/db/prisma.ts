import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import type { Log } from '../logger.ts';
import { withBackoff } from '../retry.ts';
import { createPgPool } from './pg-pool.ts';

export type Db = PrismaClient;

/** Prisma's PostgreSQL driver adapter: what the generated client runs its compiled queries on. */
export type DriverAdapter = Awaited<ReturnType<PrismaPg['connect']>>;
const driverAdapters = new WeakMap<Db, Promise<DriverAdapter>>();

/**
 * The driver adapter under `db`, on the same pool. For a statement that is already SQL, this
 * skips only the client's query compiler, which serialises and re-parses a large JSON parameter
 * several times in WebAssembly (docs/decisions/0001-consumer-batch-in-one-raw-statement.md).
 */
export const driverAdapterOf = (db: Db): Promise<DriverAdapter> => driverAdapters.get(db)!;

/** A statement runs at most this long unless the caller says otherwise. */
const STATEMENT_TIMEOUT_MS = 25_000;

export interface DbTimeouts {
  /** PostgreSQL's statement_timeout: the server cancels a statement running longer. */
  statementMs?: number;
  /**
   * How long the client waits for a connection (from the pool, or a new one), and for the answer
   * to a statement, before it gives up: what bounds a call when PostgreSQL does not answer at all
   * (a frozen host, a partition), where statement_timeout never fires. Default: 5 s for a
   * connection, statementMs + 5 s for an answer.
   */
  giveUpMs?: number;
}

/**
 * A Prisma client on the Rust-free engine, talking to PostgreSQL through node-postgres.
 *
 * `statementMs` is enforced by PostgreSQL itself (statement_timeout): a client-side timeout
 * alone gives up while the server keeps running the statement, and the consumer would then retry
 * the same messages beside their still-running first attempt, where the first commit is invisible
 * to the second's snapshot (one event counted as new and as a duplicate). The consumer keeps it
 * below the ack wait for the same reason: no redelivery can overlap a statement still running.
 */
export function createPrisma(databaseUrl: string, poolSize: number, timeouts: DbTimeouts = {}): Db {
  const statementMs = timeouts.statementMs ?? STATEMENT_TIMEOUT_MS;
  const pool = createPgPool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: timeouts.giveUpMs ?? 5_000,
    statement_timeout: statementMs,
    // If PostgreSQL stops answering altogether, the client still gives up a little later.
    query_timeout: timeouts.giveUpMs ?? statementMs + 5_000,
  });
  // An idle client whose server went away emits 'error'; unhandled, that would crash the process.
  pool.on('error', () => {});
  const factory = new PrismaPg(pool, { disposeExternalPool: true });
  const client = new PrismaClient({ adapter: factory });
  driverAdapters.set(client, factory.connect());
  return client;
}

/** True when PostgreSQL answers a trivial query. */
export async function databaseReachable(db: Db): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}

/** Waits at start-up until PostgreSQL answers, retrying with backoff (logged) up to `timeoutMs`. */
export async function waitForDatabase(db: Db, log: Log, timeoutMs: number): Promise<void> {
  await withBackoff(
    async () => {
      if (!(await databaseReachable(db))) throw new Error('PostgreSQL not reachable');
    },
    { what: 'connect to PostgreSQL', log, timeoutMs },
  );
}
