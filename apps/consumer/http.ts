import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ConsumerMetrics } from '../../shared/metrics.ts';

export interface ConsumerHttpOptions {
  logger: Logger;
  metrics: ConsumerMetrics;
  /** Names of the dependencies that are not usable right now; empty when ready. */
  notReady: () => string[];
}

/** The consumer's small HTTP face: probes for Kubernetes and metrics for Prometheus. */
export function buildConsumerHttp({ logger, metrics, notReady }: ConsumerHttpOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const failing = notReady();
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  return app as unknown as FastifyInstance;
}
