import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { IngestConfig } from '../../../shared/config.ts';
import { readBrokerDuplicates, MAX_SUBJECTS_PER_READ } from '../broker-duplicates.ts';
import { StatsReplySchema, TopicStats } from '../../../shared/stats-reply.ts';
import { TOPIC_PATTERN } from '../../../shared/event.ts';
import { FreshSingleFlight } from '../fresh-single-flight.ts';
import { QueryInteger, QueryString } from '../query-integer.ts';
import { collectStats } from '../stats.ts';

const TopicRow = Type.Object({ topic: Type.String(), ...TopicStats.properties });

const statsRoute: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  const stats = new FreshSingleFlight(() => collectStats(app.db, app.nats.jsm, config));
  app.get('/stats', { config: { scope: 'read' }, schema: { response: { 200: StatsReplySchema } } }, () => stats.run());

  // Every topic's counters, by topic name, paged like /events (RFC 8288 Link header).
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/stats/topics',
    {
      config: { scope: 'read' },
      schema: {
        querystring: QueryString({
          limit: QueryInteger({ minimum: 1, maximum: MAX_SUBJECTS_PER_READ, default: 100 }),
          after: Type.Optional(
            Type.String({ maxLength: 255, pattern: TOPIC_PATTERN, description: 'from the Link header: topics after this one' }),
          ),
        }),
        response: { 200: Type.Array(TopicRow) },
      },
    },
    async (req, reply) => {
      const { limit, after } = req.query;
      const rows = await app.db.$queryRaw<Array<{ topic: string; u: bigint; d: bigint }>>`
        SELECT topic, unique_processed AS u, duplicates_dropped AS d FROM topic_counters
        WHERE topic > ${after ?? ''} ORDER BY topic LIMIT ${limit + 1}`;
      const page = rows.slice(0, limit);
      const broker = await readBrokerDuplicates(
        app.nats.jsm,
        config.STREAM_NAME,
        page.map((r) => r.topic),
      );
      const last = page.at(-1);
      if (rows.length > limit && last)
        reply.header('link', `</stats/topics?${new URLSearchParams({ limit: String(limit), after: last.topic })}>; rel="next"`);
      return page.map((r) => ({
        topic: r.topic,
        unique_processed: Number(r.u),
        duplicates_db: Number(r.d),
        duplicates_broker: broker.get(r.topic) ?? 0,
      }));
    },
  );
};

export default statsRoute;
