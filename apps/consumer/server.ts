import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { loadConsumerConfig } from '../../shared/config.ts';
import { loggerOptions } from '../../shared/logger.ts';
import { buildConsumer } from './app.ts';

/**
 * Runs the consumer until SIGTERM/SIGINT: then stops pulling, stores and acks the batches in hand,
 * drains NATS. If it cannot consume any more (its stream or durable is gone), it closes the same
 * way and exits 1, so the orchestrator restarts it and the restart recreates the topology.
 */
export async function runConsumer(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConsumerConfig(env);
  const log = pino(loggerOptions('consumer', config.LOG_LEVEL));
  let fatal: Error | undefined;
  let closeNow = () => {};
  const app = await buildConsumer(config, {
    loggerInstance: log,
    onFatal: (err) => {
      fatal ??= err;
      closeNow();
    },
  });
  ({ close: closeNow } = closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: log }, async ({ signal, err }) => {
    if (err ?? fatal) log.error({ err: (err ?? fatal)!.message }, 'cannot consume any more; closing');
    else log.info({ signal }, 'shutting down: finishing batches in hand');
    await app.close();
    // close-with-grace exits 0 after a manual close; a fatal end must not look like a clean stop.
    if (fatal) throw fatal;
  }));
  await app.listen({ port: config.PORT, host: config.HOST });
}
