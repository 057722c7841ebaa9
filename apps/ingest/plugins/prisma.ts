import fp from 'fastify-plugin';
import type { CommonConfig } from '../../../shared/config.ts';
import { createPrisma, databaseReachable, type Db } from '../../../shared/db/prisma.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

/**
 * PostgreSQL through Prisma, for the read side (/events, /stats) only. Ingest does not wait for it
 * at start and its readiness does not depend on it: publishing needs only JetStream, so a
 * PostgreSQL restart must not take ingest out of its Service. While PostgreSQL is down the reads
 * fail and answer 503 with Retry-After (plugins/errors.ts); the pool reconnects by itself.
 */
export default fp<{ config: CommonConfig }>(
  async (app, { config }) => {
    const db = createPrisma(config.DATABASE_URL, config.DB_POOL_SIZE);
    app.decorate('db', db);
    app.addHook('onReady', async () => {
      void databaseReachable(db).then((ok) => {
        if (!ok) app.log.warn('PostgreSQL not reachable yet: publishing works, /events and /stats answer 503 until it is');
      });
    });
    app.addHook('onClose', async () => db.$disconnect());
  },
  { name: 'prisma' },
);
