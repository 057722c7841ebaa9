import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { sleep } from '../../../shared/retry.ts';
import { TopicLimit } from '../topic-limit.ts';

declare module 'fastify' {
  interface FastifyInstance {
    topicLimit: TopicLimit;
  }
}

/** How often the topics stored in PostgreSQL are read again (what other replicas admitted). */
const REFRESH_MS = 30_000;
const FIRST_READ_WAIT_MS = 2_000;

/**
 * MAX_TOPICS (apps/ingest/topic-limit.ts). The topics are read from PostgreSQL in the background,
 * never on a request's path: a request only looks them up in memory.
 */
export default fp<{ config: Pick<IngestConfig, 'MAX_TOPICS'> }>(
  async (app, { config }) => {
    const limit = new TopicLimit(config.MAX_TOPICS);
    app.decorate('topicLimit', limit);
    const refresh = async () => {
      try {
        const rows = await app.db.$queryRaw<Array<{ topic: string }>>`SELECT topic FROM topic_counters`;
        limit.learn(rows.map((r) => r.topic));
        app.metrics.knownTopics.set(limit.size);
      } catch (err) {
        app.log.debug({ err: (err as Error).message }, 'could not read the known topics; trying again later');
      }
    };
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      // The first read is waited for a little, so a new replica does not admit a topic the others
      // would refuse; not longer, since publishing must not wait for PostgreSQL.
      await Promise.race([refresh(), sleep(FIRST_READ_WAIT_MS)]);
      timer = setInterval(() => void refresh(), REFRESH_MS);
      timer.unref();
    });
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'topic-limit', dependencies: ['prisma', 'metrics'] },
);
