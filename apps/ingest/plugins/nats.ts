import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { connectNats } from '../../../shared/nats/connect.ts';
import { PipelinedPublisher } from '../../../shared/nats/pipelined-publisher.ts';
import { EventPublisher } from '../publisher.ts';

declare module 'fastify' {
  interface FastifyInstance {
    nats: { nc: NatsConnection; jsm: JetStreamManager; publisher: EventPublisher };
  }
}

/**
 * Connects to NATS and drains the connection on close. Ingest only publishes and reads stream
 * state: the streams and the durable consumer are the consumer's to create (shared/nats/topology.ts),
 * so ingest needs neither PostgreSQL nor JetStream admin rights. Until the event stream exists
 * /readyz says so and publishes answer 503.
 */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const nc = await connectNats(config, `ingest-${process.pid}`, app.log);
    const jsm = await jetstreamManager(nc);
    const pipelined = new PipelinedPublisher(nc, config.PUBLISH_TIMEOUT_MS);
    const publisher = new EventPublisher(pipelined, config.STREAM_NAME, config.MAX_PUBLISH_IN_FLIGHT, config.PUBLISH_TIMEOUT_MS);
    app.decorate('nats', { nc, jsm, publisher });
    app.addHook('onClose', async () => {
      // drain() flushes publishes still in flight before closing.
      await nc.drain().catch(() => {});
      pipelined.close();
    });
  },
  { name: 'nats' },
);
