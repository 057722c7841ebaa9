import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { loadConsumerConfig } from '../../shared/config.ts';
import { createPrisma, waitForDatabase } from '../../shared/db/prisma.ts';
import { loggerOptions } from '../../shared/logger.ts';
import { createConsumerMetrics } from '../../shared/metrics.ts';
import { connectNats } from '../../shared/nats/connect.ts';
import { ensureBrokerDuplicateTotal } from '../../shared/nats/counters.ts';
import { CONSUMER_INBOX_PREFIX, ensureTopology } from '../../shared/nats/topology.ts';
import { nextStreamSequence } from '../../shared/db/stream-sequence.ts';
import { withBackoff } from '../../shared/retry.ts';
import { buildConsumerHttp } from './http.ts';
import { EventWriter } from './worker.ts';

export async function runConsumer(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConsumerConfig(env);
  const log = pino(loggerOptions('consumer', config.LOG_LEVEL));
  const metrics = createConsumerMetrics();
  const db = createPrisma(config.DATABASE_URL, config.DB_POOL_SIZE);
  let writer: EventWriter | undefined;
  let natsClosed = false;

  const http = buildConsumerHttp({
    logger: log,
    metrics,
    notReady: () => [
      ...(natsClosed || !writer ? ['nats'] : []),
      ...(writer && !writer.databaseHealthy ? ['postgresql'] : []),
    ],
  });
  await http.listen({ port: config.PORT, host: config.HOST });

  await waitForDatabase(db, log, config.STARTUP_TIMEOUT_MS);
  const nc = await connectNats(config, `consumer-${process.pid}`, log, { inboxPrefix: CONSUMER_INBOX_PREFIX });
  void nc.closed().then(() => (natsClosed = true));
  const jsm = await jetstreamManager(nc);
  // The consumer owns the topology: it holds the database the event stream's first sequence
  // comes from, and its restart is what recreates a lost stream (see EventWriter.start).
  await withBackoff(async () => {
    await ensureTopology(jsm, config, () => nextStreamSequence(db), log);
    await ensureBrokerDuplicateTotal(jsm, config.STREAM_NAME, log);
  }, {
    what: 'create stream and consumer',
    log,
    timeoutMs: config.STARTUP_TIMEOUT_MS,
  });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(config.STREAM_NAME, config.CONSUMER_NAME);
  let lag: NodeJS.Timeout | undefined;
  let shuttingDown = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down: finishing batches in hand');
    const force = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    if (lag) clearInterval(lag);
    await writer?.stop();
    await nc.drain().catch(() => {});
    await http.close();
    await db.$disconnect();
    clearTimeout(force);
    log.info('consumer stopped');
    process.exit(exitCode);
  };
  // Exit non-zero and let the orchestrator restart us rather than sit "ready" consuming nothing.
  writer = new EventWriter(consumer, js, db, config, metrics, log, (err) => {
    log.error({ err: err.message }, 'cannot consume any more; exiting');
    void shutdown('fatal', 1);
  });
  await writer.start();
  log.info({ batchSize: config.BATCH_SIZE, concurrency: config.CONSUMER_CONCURRENCY, mode: config.PERSIST_MODE }, 'consumer started');

  lag = setInterval(async () => {
    await writer?.checkDatabase();
    try {
      const info = await jsm.consumers.info(config.STREAM_NAME, config.CONSUMER_NAME);
      metrics.pending.set(info.num_pending);
      metrics.ackPending.set(info.num_ack_pending);
    } catch {
      /* NATS unavailable: the gauges keep their last value */
    }
  }, 2_000);

  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
