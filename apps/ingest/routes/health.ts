import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyPluginAsync } from 'fastify';
import type { IngestConfig } from '../../../shared/config.ts';

/** /readyz answers within 1 s (see below): its one JetStream request is given this long. */
const READY_REQUEST_TIMEOUT_MS = 450;

const healthRoutes: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  const started = new Date().toISOString();
  // The previous service's root.
  app.get('/', async () => ({ status: 'alive', service: 'pubsub-aggregator-ingest', started_at: started }));

  // Liveness: the process is serving. Dependencies are readiness's business; failing liveness on a
  // NATS outage would restart every pod at once and fix nothing.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Readiness: this process can accept events, i.e. publish to the event stream. PostgreSQL is not
  // asked (not even reported: a slow answer would fail the probe): while it restarts JetStream
  // keeps every event, and an outage that took every ingest out of its Service would refuse events
  // for nothing. The consumer's readiness reports PostgreSQL.
  //
  // A NATS that does not answer is not ready, promptly: the probe's own JetStream request gives up
  // after READY_REQUEST_TIMEOUT_MS, not the connection's default of 5 s.
  const probe = await jetstreamManager(app.nats.nc, { timeout: READY_REQUEST_TIMEOUT_MS, checkAPI: false });
  app.get('/readyz', async (_req, reply) => {
    const failing: string[] = [];
    if (app.nats.nc.isClosed() || app.nats.nc.isDraining()) failing.push('nats');
    else if (app.eventPublisher.stalled()) failing.push('publishing');
    else {
      try {
        await probe.streams.info(config.STREAM_NAME);
      } catch {
        failing.push('stream');
      }
    }
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
};

export default healthRoutes;
