import fp from 'fastify-plugin';
import type { ConsumerAppConfig } from '../../../shared/config.ts';
import { RetentionPurger } from '../retention.ts';

/**
 * Retention (EVENTS_RETENTION_MS): every RETENTION_PURGE_INTERVAL_MS, the replica that gets the
 * advisory lock purges what is past the horizon and acknowledged; every replica refreshes the
 * table-size and retention-lag gauges. A failed round (NATS or PostgreSQL away) is logged and
 * retried at the next one: nothing depends on a purge being on time.
 */
export default fp<{ config: ConsumerAppConfig }>(
  async (app, { config }) => {
    const purger = new RetentionPurger(
      config.DATABASE_URL,
      { retentionMs: config.EVENTS_RETENTION_MS, batchRows: config.RETENTION_BATCH_ROWS, pauseMs: config.RETENTION_BATCH_PAUSE_MS },
      app.consumerMetrics,
    );
    let stopping = false;
    let timer: NodeJS.Timeout | undefined;
    let round: Promise<void> = Promise.resolve();

    const once = async () => {
      try {
        if (config.EVENTS_RETENTION_MS > 0) {
          // Read before the bound is computed: the floor only rises, so an older reading is safe.
          const info = await app.nats.jsm.consumers.info(config.STREAM_NAME, config.CONSUMER_NAME);
          const started = performance.now();
          const out = await purger.purge(info.ack_floor.stream_seq, () => stopping);
          if (out.processed + out.duplicates > 0) {
            app.log.info(
              { ...out, ms: Math.round(performance.now() - started) },
              'retention purge', // once per interval at most, by one replica
            );
          }
        }
        await purger.refreshGauges();
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'retention purge failed; retrying at the next interval');
      }
    };
    const schedule = () => {
      timer = setTimeout(() => {
        round = once().finally(() => {
          if (!stopping) schedule();
        });
      }, config.RETENTION_PURGE_INTERVAL_MS);
    };

    app.addHook('onReady', async () => {
      schedule();
    });
    app.addHook('onClose', async () => {
      stopping = true;
      clearTimeout(timer);
      await round;
      await purger.close();
    });
  },
  { name: 'retention', dependencies: ['nats', 'prisma', 'topology', 'consumer-metrics'] },
);
