import type { FastifyPluginAsync } from 'fastify';

/** Probes for Kubernetes: the process serves (liveness); it can pull and store (readiness). */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const failing = [
      ...(app.nats.nc.isClosed() || app.nats.nc.isDraining() ? ['nats'] : []),
      ...(app.databaseHealth.healthy ? [] : ['postgresql']),
    ];
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
};

export default healthRoutes;
