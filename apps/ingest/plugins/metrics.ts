import http from 'node:http';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { createIngestMetrics, type IngestMetrics } from '../../../shared/metrics.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: IngestMetrics;
  }
}

/**
 * prom-client registry, per-route request histogram, and GET /metrics: on the API port, and on
 * METRICS_PORT when set, so that a NetworkPolicy can admit Prometheus to the metrics without
 * admitting it to /publish, and narrowing the API's clients does not cut off the scraper.
 * METRICS_ON_API_PORT=false leaves it off the API port (and so off the ingest Service).
 */
export default fp<{ config: Pick<IngestConfig, 'METRICS_PORT' | 'METRICS_ON_API_PORT' | 'HOST'> }>(
  async (app, { config }) => {
    const metrics = createIngestMetrics();
    app.decorate('metrics', metrics);
    app.addHook('onResponse', async (req, reply) => {
      metrics.httpDuration.observe(
        { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
    if (config.METRICS_ON_API_PORT)
      app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

    if (config.METRICS_PORT > 0) {
      const server = http.createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"statusCode":404,"error":"Not Found","message":"only GET /metrics here"}');
          return;
        }
        metrics.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      });
      app.addHook(
        'onReady',
        () =>
          new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(config.METRICS_PORT, config.HOST, () => resolve());
          }),
      );
      app.addHook('onClose', () => new Promise<void>((resolve) => server.close(() => resolve())));
    }
  },
  { name: 'metrics' },
);
