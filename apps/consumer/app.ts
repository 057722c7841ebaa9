import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { ConsumerAppConfig } from '../../shared/config.ts';
import { CONSUMER_INBOX_PREFIX } from '../../shared/nats/topology.ts';
import natsPlugin, { startupPluginTimeoutMs } from '../plugins/nats.ts';
import prismaPlugin from '../plugins/prisma.ts';
import metricsPlugin from './plugins/metrics.ts';
import retentionPlugin from './plugins/retention.ts';
import topologyPlugin from './plugins/topology.ts';
import pipelinePlugin, { type PipelinePluginOptions } from './plugins/pipeline.ts';
import healthRoutes from './routes/health.ts';

export interface ConsumerOptions extends Pick<FastifyServerOptions, 'loggerInstance'> {
  /** See PipelinePluginOptions.onFatal; by default the app only logs it. */
  onFatal?: PipelinePluginOptions['onFatal'];
}

/**
 * The consumer as a Fastify instance, not yet listening: its HTTP face is probes and metrics; its
 * work is the pipeline wired in plugins/pipeline.ts. It waits for PostgreSQL and NATS and creates the
 * topology while it becomes ready (`await app.ready()`), starts pulling once ready, and on
 * `app.close()` stores and acks the batches in hand before it disconnects.
 */
export async function buildConsumer(config: ConsumerAppConfig, opts: ConsumerOptions = {}): Promise<FastifyInstance> {
  const { onFatal, ...fastifyOpts } = opts;
  const app = Fastify({
    ...fastifyOpts,
    logController: new LogController({ disableRequestLogging: true }),
    pluginTimeout: startupPluginTimeoutMs(config),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  await app.register(metricsPlugin);
  // A batch statement must end before its messages can be redelivered (shared/db/prisma.ts).
  const statementTimeoutMs = Math.min(25_000, Math.floor(config.CONSUMER_ACK_WAIT_MS * 0.8));
  await app.register(prismaPlugin, { config, waitAtStart: true, timeouts: { statementMs: statementTimeoutMs } });
  await app.register(natsPlugin, { config, service: 'consumer', inboxPrefix: CONSUMER_INBOX_PREFIX });
  await app.register(topologyPlugin, { config });
  await app.register(pipelinePlugin, {
    config,
    onFatal: onFatal ?? ((err) => app.log.error({ err: err.message }, 'cannot consume any more')),
  });
  await app.register(retentionPlugin, { config });
  await app.register(healthRoutes);
  return app;
}
