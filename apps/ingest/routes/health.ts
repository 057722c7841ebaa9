import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyPluginAsync } from 'fastify';
import type { IngestConfig } from '../../../shared/config.ts';
import { brokerDuplicateTotalExists } from '../../../shared/nats/counters.ts';

/** /readyz answers within 1 s (see below): two requests at most, each given this long. */
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
  // A NATS that does not answer is not ready, promptly: the probe's own JetStream requests give up
  // after READY_REQUEST_TIMEOUT_MS each (at most two per probe), where the connection's default of
  // 5 s answered 200 after 3.8 s to a probe asked while nats-server was frozen for 4 s.
  const probe = await jetstreamManager(app.nats.nc, { timeout: READY_REQUEST_TIMEOUT_MS, checkAPI: false });
  let counterTotalSeen = false;
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
      // Once there, the total stays: asked until it is (shared/nats/counters.ts says why).
      if (!failing.length && !counterTotalSeen) {
        counterTotalSeen = await brokerDuplicateTotalExists(probe, config.STREAM_NAME).catch(() => false);
        if (!counterTotalSeen) failing.push('counters');
      }
    }
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
};

export default healthRoutes;
