import { jetstream } from '@nats-io/jetstream';
import fp from 'fastify-plugin';
import type { ConsumerAppConfig } from '../../../shared/config.ts';
import { DatabaseHealth } from '../database-health.ts';
import { DeadLetterer } from '../dead-letter.ts';
import { EventWriter } from '../event-writer.ts';
import { refreshJetStreamGauges } from '../jetstream-gauges.ts';
import { BatchPuller } from '../pull.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** PostgreSQL's health as the writer last saw it (readiness reports it). */
    databaseHealth: DatabaseHealth;
  }
}

/** How often the consumer's JetStream gauges and PostgreSQL's health are refreshed. */
const POLL_MS = 2_000;

export interface PipelinePluginOptions {
  config: ConsumerAppConfig;
  /**
   * The pull subscription ended by itself (the stream or the durable is gone): this process cannot
   * consume any more and should exit non-zero, so its restart recreates the topology, rather than
   * sit "ready" consuming nothing.
   */
  onFatal: (err: Error) => void;
}

/**
 * The consumer's pipeline, wired: the puller (pull.ts) feeds the event writer (event-writer.ts),
 * which dead-letters what can never be stored (dead-letter.ts) and watches PostgreSQL's health
 * (database-health.ts); the JetStream gauges are refreshed beside it. Starts pulling when the app is
 * ready, and on close stops pulling, stores and acks the batches in hand (or, while PostgreSQL is
 * down, hands them back), and hands the rest back to the stream.
 */
export default fp<PipelinePluginOptions>(
  async (app, { config, onFatal }) => {
    const metrics = app.consumerMetrics;
    const js = jetstream(app.nats.nc);
    const consumer = await js.consumers.get(config.STREAM_NAME, config.CONSUMER_NAME);
    let stopping = false;
    const health = new DatabaseHealth(app.db, metrics, app.log);
    const puller = new BatchPuller(
      consumer,
      { highWater: config.BATCH_SIZE * config.CONSUMER_CONCURRENCY * 2, lingerMs: config.BATCH_LINGER_MS },
      app.log,
      onFatal,
    );
    const deadLetters = new DeadLetterer(js, config.STREAM_NAME, metrics, app.log, () => stopping);
    const writer = new EventWriter({ puller, stopping: () => stopping, db: app.db, health, deadLetters, metrics, log: app.log }, config);
    app.decorate('databaseHealth', health);

    let poll: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      await puller.start();
      writer.start();
      poll = setInterval(async () => {
        await health.probe();
        try {
          await refreshJetStreamGauges(app.nats.jsm, config, metrics);
        } catch {
          /* NATS unavailable: the gauges keep their last value */
        }
      }, POLL_MS);
      app.log.info(
        { batchSize: config.BATCH_SIZE, concurrency: config.CONSUMER_CONCURRENCY, mode: config.PERSIST_MODE },
        'consumer started',
      );
    });
    app.addHook('onClose', async () => {
      stopping = true;
      clearInterval(poll);
      puller.stop();
      await writer.stopped();
      await puller.drain();
      app.log.info('consumer stopped');
    });
  },
  { name: 'pipeline', dependencies: ['nats', 'prisma', 'topology', 'consumer-metrics'] },
);
