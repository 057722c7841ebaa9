import fp from 'fastify-plugin';
import type { CommonConfig } from '../../../shared/config.ts';
import { createPrisma, waitForDatabase, type Db } from '../../../shared/db/prisma.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

/** PostgreSQL through Prisma, for the read side (/events, /stats, /readyz). */
export default fp<{ config: CommonConfig }>(
  async (app, { config }) => {
    const db = createPrisma(config.DATABASE_URL, config.DB_POOL_SIZE);
    await waitForDatabase(db, app.log, config.STARTUP_TIMEOUT_MS);
    app.decorate('db', db);
    app.addHook('onClose', async () => db.$disconnect());
  },
  { name: 'prisma' },
);
