import fp from 'fastify-plugin';
import type { ConsumerAppConfig } from '../../../shared/config.ts';
import { nextStreamSequence } from '../stream-sequence.ts';
import { ensureTopology } from '../../../shared/nats/topology.ts';
import { withBackoff } from '../../../shared/retry.ts';
import { checkDatabaseBehindStream } from '../database-behind.ts';

/**
 * The consumer owns the topology (streams, durable consumer): it holds
 * the database a recreated event stream's first sequence comes from, and its restart is what
 * recreates a lost stream (pull.ts). Ingest only uses what this creates.
 */
export default fp<{ config: ConsumerAppConfig }>(
  async (app, { config }) => {
    await withBackoff(() => ensureTopology(app.nats.jsm, config, () => nextStreamSequence(app.db), app.log), {
      what: 'create stream and consumer',
      log: app.log,
      timeoutMs: config.STARTUP_TIMEOUT_MS,
    });
    await checkDatabaseBehindStream(app.nats.jsm, config, async () => (await nextStreamSequence(app.db)) - 1, app.consumerMetrics, app.log);
  },
  { name: 'topology', dependencies: ['nats', 'prisma', 'consumer-metrics'] },
);
