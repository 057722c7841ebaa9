import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { PipelinedPublisher } from '../pipelined-publisher.ts';
import { EventPublisher } from '../event-publisher.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Ingest's publishing of whole requests; its PipelinedPublisher is the JetStream layer below. */
    eventPublisher: EventPublisher;
  }
}

/**
 * Ingest's way onto the event stream (apps/ingest/event-publisher.ts). Ingest only publishes and reads
 * stream state: the streams and the durable consumer are the consumer's to create
 * (shared/nats/topology.ts), so ingest needs neither PostgreSQL nor JetStream admin rights. Until
 * the event stream exists /readyz says so and publishes answer 503.
 */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const pipelined = new PipelinedPublisher(app.nats.nc, config.PUBLISH_TIMEOUT_MS);
    const retries = app.metrics.inProcessRetries;
    app.decorate(
      'eventPublisher',
      new EventPublisher(pipelined, config.STREAM_NAME, config.MAX_PUBLISH_IN_FLIGHT, config.PUBLISH_TIMEOUT_MS, () => retries.inc()),
    );
    // onClose runs once in-flight requests have finished, before the nats plugin's drain (hooks run
    // in reverse order of registration): anything still waiting for a PubAck is told, not left hanging.
    app.addHook('onClose', async () => pipelined.close());
  },
  { name: 'event-publisher', dependencies: ['nats', 'metrics'] },
);
