import type { FastifyPluginAsync } from 'fastify';
import type { IngestConfig } from '../../../shared/config.ts';
import { StatsReplySchema } from '../../../shared/stats-reply.ts';
import { collectStats } from '../stats.ts';

const statsRoute: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  app.get('/stats', { config: { scope: 'read' }, schema: { response: { 200: StatsReplySchema } } }, async () =>
    collectStats(app.db, app.nats.jsm, config),
  );
};

export default statsRoute;
