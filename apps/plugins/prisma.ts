import fp from 'fastify-plugin';
import type { CommonConfig } from '../../shared/config.ts';
import { createPrisma, databaseReachable, waitForDatabase, type Db, type DbTimeouts } from '../../shared/db/prisma.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

export interface PrismaPluginOptions {
  config: CommonConfig;
  /** This app's statement and client deadlines (shared/db/prisma.ts says why). */
  timeouts?: DbTimeouts;
  /**
   * Wait at start until PostgreSQL answers (retrying up to STARTUP_TIMEOUT_MS): the consumer,
   * which can do nothing without it. Ingest does not: publishing needs only JetStream, so a
   * PostgreSQL restart must not take ingest out of its Service; its reads answer 503 meanwhile
   * (plugins/errors.ts) and the pool reconnects by itself.
   */
  waitAtStart: boolean;
}

/** PostgreSQL through Prisma (apps/../shared/db/prisma.ts), disconnected when the app closes. */
export default fp<PrismaPluginOptions>(
  async (app, { config, waitAtStart, timeouts }) => {
    const db = createPrisma(config.DATABASE_URL, config.DB_POOL_SIZE, timeouts);
    app.decorate('db', db);
    app.addHook('onClose', async () => db.$disconnect());
    if (waitAtStart) {
      await waitForDatabase(db, app.log, config.STARTUP_TIMEOUT_MS);
      return;
    }
    app.addHook('onReady', async () => {
      void databaseReachable(db).then((ok) => {
        if (!ok) app.log.warn('PostgreSQL not reachable yet: publishing works, /events and /stats answer 503 until it is');
      });
    });
  },
  { name: 'prisma' },
);
