import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import fp from 'fastify-plugin';
import type { CommonConfig } from '../../shared/config.ts';
import { connectNats } from '../../shared/nats/connect.ts';

declare module 'fastify' {
  interface FastifyInstance {
    nats: { nc: NatsConnection; jsm: JetStreamManager };
  }
}

/**
 * Fastify's pluginTimeout for an app whose plugins wait for NATS (and PostgreSQL) at start: the
 * default 10 s aborted the NATS plugin while it still retried for STARTUP_TIMEOUT_MS (a 3-node NATS
 * forming takes longer), and the pod crash-looped. The margin covers the last connect attempt,
 * which nats.js gives up after 20 s and withBackoff may start just before its deadline. The chart's
 * startupProbes are sized to match.
 */
export const startupPluginTimeoutMs = (config: Pick<CommonConfig, 'STARTUP_TIMEOUT_MS'>) => config.STARTUP_TIMEOUT_MS + 30_000;

export interface NatsPluginOptions {
  config: CommonConfig;
  /** Names the connection in the server's connz: `<service>-<pid>`. */
  service: 'ingest' | 'consumer';
  /** Where this connection's request replies arrive (shared/nats/connect.ts). */
  inboxPrefix?: string;
}

/**
 * The NATS connection of either app: connected (with retries up to STARTUP_TIMEOUT_MS) before the
 * app is ready, drained when it closes, after the plugins that use it have stopped.
 */
export default fp<NatsPluginOptions>(
  async (app, { config, service, inboxPrefix }) => {
    const nc = await connectNats(config, `${service}-${process.pid}`, app.log, { inboxPrefix });
    const jsm = await jetstreamManager(nc);
    app.decorate('nats', { nc, jsm });
    // drain() flushes publishes still in flight and lets subscriptions finish before closing.
    app.addHook('onClose', async () => nc.drain().catch(() => {}));
  },
  { name: 'nats' },
);
