import type { FastifyPluginAsync } from 'fastify';
import type { IngestConfig } from '../../../shared/config.ts';
import { brokerDuplicateTotalExists } from '../../../shared/nats/counters.ts';

const healthRoutes: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  const started = new Date().toISOString();
  // Seed-compatible root.
  app.get('/', async () => ({ status: 'alive', service: 'pubsub-aggregator-ingest', started_at: started }));

  // Liveness: the process is serving. Dependencies are readiness's business; failing liveness on a
  // NATS outage would restart every pod at once and fix nothing.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Readiness: this process can accept events, i.e. publish to the event stream. PostgreSQL is not
  // asked (not even reported: a slow answer would fail the probe): while it restarts JetStream
  // keeps every event, and an outage that took every ingest out of its Service would refuse events
  // for nothing. The consumer's readiness reports PostgreSQL.
  let counterTotalSeen = false;
  app.get('/readyz', async (_req, reply) => {
    const failing: string[] = [];
    if (app.nats.nc.isClosed() || app.nats.nc.isDraining()) failing.push('nats');
    else if (app.publisher.stalled()) failing.push('publishing');
    else {
      try {
        await app.nats.jsm.streams.info(config.STREAM_NAME);
      } catch {
        failing.push('stream');
      }
      // Once there, the total stays: asked until it is (shared/nats/counters.ts says why).
      if (!failing.length && !counterTotalSeen) {
        counterTotalSeen = await brokerDuplicateTotalExists(app.nats.jsm, config.STREAM_NAME).catch(() => false);
        if (!counterTotalSeen) failing.push('counters');
      }
    }
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
};

export default healthRoutes;
