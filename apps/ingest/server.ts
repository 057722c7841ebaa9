import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { loadIngestConfig } from '../../shared/config.ts';
import { loggerOptions } from '../../shared/logger.ts';
import { buildApp } from './app.ts';

/** Runs ingest until SIGTERM/SIGINT: then stops accepting, finishes in-flight requests, drains NATS. */
export async function runIngest(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadIngestConfig(env);
  const log = pino(loggerOptions('ingest', config.LOG_LEVEL));
  const app = await buildApp(config, { loggerInstance: log });
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error, closing');
    else log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
  });
  await app.listen({ port: config.PORT, host: config.HOST });
}
