import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { connectNats } from '../../../shared/nats/connect.ts';
import { PipelinedPublisher } from '../../../shared/nats/pipelined-publisher.ts';
import { ensureTopology } from '../../../shared/nats/topology.ts';
import { ensureBrokerDuplicateTotal } from '../../../shared/nats/counters.ts';
import { nextStreamSequence } from '../../../shared/db/stream-sequence.ts';
import { withBackoff } from '../../../shared/retry.ts';
import { EventPublisher } from '../publisher.ts';

declare module 'fastify' {
  interface FastifyInstance {
    nats: { nc: NatsConnection; jsm: JetStreamManager; publisher: EventPublisher };
  }
}

/** Connects to NATS, makes sure the stream exists, and drains the connection on close. */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const nc = await connectNats(config, `ingest-${process.pid}`, app.log);
    const jsm = await jetstreamManager(nc);
    await withBackoff(
      async () => {
        await ensureTopology(jsm, config, () => nextStreamSequence(app.db), app.log);
        await ensureBrokerDuplicateTotal(jsm, config.STREAM_NAME, app.log);
      },
      { what: 'create stream and consumer', log: app.log, timeoutMs: config.STARTUP_TIMEOUT_MS },
    );
    const pipelined = new PipelinedPublisher(nc, config.PUBLISH_TIMEOUT_MS);
    const publisher = new EventPublisher(pipelined, config.STREAM_NAME, config.MAX_PUBLISH_IN_FLIGHT, config.PUBLISH_TIMEOUT_MS);
    app.decorate('nats', { nc, jsm, publisher });
    app.addHook('onClose', async () => {
      // drain() flushes publishes still in flight before closing.
      await nc.drain().catch(() => {});
      pipelined.close();
    });
  },
  // prisma first: a missing event stream is created after the sequences the database holds.
  { name: 'nats', dependencies: ['prisma'] },
);
