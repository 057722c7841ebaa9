import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';
import type { Log } from '../logger.ts';
import { withBackoff } from '../retry.ts';
import { createPgPool } from './pg-pool.ts';

export type Db = PrismaClient;

/** A Prisma client on the Rust-free engine, talking to PostgreSQL through node-postgres. */
export function createPrisma(databaseUrl: string, poolSize: number): Db {
  const pool = createPgPool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    // Fail a statement rather than hang a batch forever if PostgreSQL stops answering.
    query_timeout: 30_000,
  });
  // An idle client whose server went away emits 'error'; unhandled, that would crash the process.
  pool.on('error', () => {});
  return new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
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
