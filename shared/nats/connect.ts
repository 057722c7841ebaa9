import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../logger.ts';
import type { CommonConfig } from '../config.ts';
import { withBackoff } from '../retry.ts';

/**
 * Connects to NATS, retrying with backoff until STARTUP_TIMEOUT_MS; then reconnects forever.
 * `inboxPrefix`: where this connection's request replies arrive. A role of its own lets the NATS
 * permissions give each identity only its own replies (the consumer's pulled messages arrive there),
 * see charts/pubsub-aggregator/templates/_nats.tpl.
 */
export async function connectNats(
  config: CommonConfig,
  name: string,
  log: Log,
  opts: { inboxPrefix?: string } = {},
): Promise<NatsConnection> {
  const nc = await withBackoff(
    () =>
      connect({
        servers: config.NATS_URL.split(',').map((s) => s.trim()),
        name,
        user: config.NATS_USER,
        pass: config.NATS_PASSWORD,
        // Without this the client builds an Error (stack trace) for every request and publish, a
        // large share of a publish's CPU (docs/decisions/0002-ingest-publish-path.md).
        noAsyncTraces: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        pingInterval: 10_000,
        ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      }),
    { what: 'connect to NATS', log, timeoutMs: config.STARTUP_TIMEOUT_MS },
  );
  log.info({ server: nc.getServer(), user: config.NATS_USER }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        // A permissions violation arrives here ("Permissions Violation for Publish to ..."): the
        // NATS user lacks a right this process needs.
        const err = s.type === 'error' ? s.error.message : undefined;
        log.warn({ status: s.type, server: 'server' in s ? s.server : undefined, err }, 'NATS connection status');
      }
    }
  })();
  return nc;
}
