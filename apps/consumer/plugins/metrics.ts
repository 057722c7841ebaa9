import fp from 'fastify-plugin';
import { createConsumerMetrics, type ConsumerMetrics } from '../../../shared/metrics.ts';

declare module 'fastify' {
  interface FastifyInstance {
    consumerMetrics: ConsumerMetrics;
  }
}

/** The consumer's prom-client registry (shared/metrics.ts) and GET /metrics. */
export default fp(
  async (app) => {
    const metrics = createConsumerMetrics();
    app.decorate('consumerMetrics', metrics);
    app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  },
  { name: 'consumer-metrics' },
);
