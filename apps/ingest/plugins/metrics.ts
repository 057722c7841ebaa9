import fp from 'fastify-plugin';
import { createIngestMetrics, type IngestMetrics } from '../../../shared/metrics.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: IngestMetrics;
  }
}

/** prom-client registry, per-route request histogram, and GET /metrics. */
export default fp(
  async (app) => {
    const metrics = createIngestMetrics();
    app.decorate('metrics', metrics);
    app.addHook('onResponse', async (req, reply) => {
      metrics.httpDuration.observe(
        { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  },
  { name: 'metrics' },
);
