import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { parseTrustProxy, type IngestConfig } from '../../shared/config.ts';
import clientAccessPlugin from './plugins/client-access.ts';
import bodyBudget from './plugins/body-budget.ts';
import connectionOrder, { clientErrorHandler } from './plugins/connection-order.ts';
import errorsPlugin from './plugins/errors.ts';
import jsonBodyPlugin from './plugins/json-body.ts';
import securityHeaders from './plugins/security-headers.ts';
import metricsPlugin from './plugins/metrics.ts';
import natsPlugin, { startupPluginTimeoutMs } from '../plugins/nats.ts';
import prismaPlugin from '../plugins/prisma.ts';
import eventPublisherPlugin from './plugins/event-publisher.ts';
import topicLimitPlugin from './plugins/topic-limit.ts';
import transferCoding from './plugins/transfer-coding.ts';
import eventsRoute from './routes/events.ts';
import healthRoutes from './routes/health.ts';
import publishRoute from './routes/publish.ts';
import { queryIntegerKeywords } from './query-integer.ts';
import statsRoute from './routes/stats.ts';

/**
 * Ingest only reads (/events, /stats), each a single indexed statement that takes milliseconds,
 * and a client waiting on a read holds one of EVENTS_MAX_CONCURRENT slots: it is told 503 +
 * Retry-After within 5 s, whether PostgreSQL is slow (statement_timeout) or does not answer at all
 * (the client's own deadline, far below the driver's defaults:
 * docs/decisions/0003-bounded-bodies-and-reads.md).
 */
const READ_TIMEOUTS = { statementMs: 4_000, giveUpMs: 4_500 };

/**
 * The ingest service as a Fastify instance, not yet listening. Connects to NATS when it becomes
 * ready (`await app.ready()`; PostgreSQL is connected lazily), and closes both on `app.close()`.
 */
export async function buildApp(config: IngestConfig, opts: Pick<FastifyServerOptions, 'loggerInstance'> = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...opts,
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    // Node checks request deadlines only every 30 s by default; a slow-body client should get its
    // 408 close to REQUEST_TIMEOUT_MS.
    http: {
      connectionsCheckingInterval: Math.min(1_000, config.REQUEST_TIMEOUT_MS),
      headersTimeout: Math.min(60_000, config.REQUEST_TIMEOUT_MS),
    },
    // One log line per request would be per-event on the hot path for single-event publishers.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown query parameters are an error, not silently dropped; nothing is coerced into shape.
    ajv: { customOptions: { removeAdditional: false, allErrors: true }, plugins: [queryIntegerKeywords] },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // req.ip, the rate limit's key for clients without a valid token: X-Forwarded-For counts only
    // as far as TRUST_PROXY says, or anyone could pick their own bucket by writing the header.
    trustProxy: parseTrustProxy(config.TRUST_PROXY),
    pluginTimeout: startupPluginTimeoutMs(config),
    // Answers to bytes the HTTP parser refuses come after the replies ahead of them, never before.
    clientErrorHandler,
  });
  // JSON only: Fastify's default text/plain parser would let a plain-text body through to
  // validation instead of answering 415.
  app.removeContentTypeParser('text/plain');
  // First: its hook holds a pipelined request until the reply ahead of it has left.
  await app.register(connectionOrder);
  await app.register(transferCoding);
  await app.register(metricsPlugin, { config });
  await app.register(errorsPlugin);
  await app.register(bodyBudget, { config });
  await app.register(jsonBodyPlugin, {
    limits: { maxBatchSize: config.MAX_BATCH_SIZE, maxEventBytes: config.MAX_EVENT_BYTES },
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
  });
  await app.register(securityHeaders);
  // Who the client is, then its rate limit, then its bearer token's scope.
  await app.register(clientAccessPlugin, { config });
  await app.register(prismaPlugin, { config, waitAtStart: false, timeouts: READ_TIMEOUTS });
  await app.register(natsPlugin, { config, service: 'ingest' });
  await app.register(eventPublisherPlugin, { config });
  await app.register(topicLimitPlugin, { config });
  await app.register(healthRoutes, { config });
  await app.register(publishRoute, { config });
  await app.register(eventsRoute, { config });
  await app.register(statsRoute, { config });
  return app;
}
