import type { JsMsg } from '@nats-io/jetstream';
import type { ConsumerAppConfig } from '../../shared/config.ts';
import type { Db } from '../../shared/db/prisma.ts';
import type { Log } from '../../shared/logger.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { backoffDelayMs, logsAttempt, sleep, type Backoff } from '../../shared/retry.ts';
import type { DatabaseHealth } from './database-health.ts';
import type { DeadLetterer } from './dead-letter.ts';
import { decodeDelivery, type Delivery } from '../../shared/decode.ts';
import { streamSequenceOf } from './ack-subject.ts';
import { persistBatch } from './persist.ts';
import type { BatchPuller } from './pull.ts';

/**
 * When to redeliver a message PostgreSQL refused on its `deliveries`-th delivery: a schedule of its
 * own (CONSUMER_RETRY_DELAY_MS, doubling, capped at CONSUMER_RETRY_DELAY_MAX_MS), not the ack
 * wait. An immediate nak would spend every permitted delivery within a second and dead-letter a
 * message whose refusal (a lock or statement timeout) lasts a few seconds.
 */
export function retryDelayMs(
  deliveries: number,
  config: Pick<ConsumerAppConfig, 'CONSUMER_RETRY_DELAY_MS' | 'CONSUMER_RETRY_DELAY_MAX_MS'>,
): number {
  return backoffDelayMs(deliveries, { initialMs: config.CONSUMER_RETRY_DELAY_MS, maxMs: config.CONSUMER_RETRY_DELAY_MAX_MS });
}

/** How often a batch held through a PostgreSQL outage tries again; its ack deadline is extended meanwhile. */
export const OUTAGE_BACKOFF: Backoff = { initialMs: 200, maxMs: 5_000 };

interface Pending {
  msg: JsMsg;
  delivery: Delivery;
}

export interface EventWriterParts {
  puller: BatchPuller;
  /** True once the app is closing: a batch held for a PostgreSQL outage is handed back then. */
  stopping: () => boolean;
  db: Db;
  health: DatabaseHealth;
  deadLetters: DeadLetterer;
  metrics: ConsumerMetrics;
  log: Log;
}

/**
 * Persists what the puller hands out, CONSUMER_CONCURRENCY batches at a time. Guarantees:
 * - a message is acked only after the transaction holding its row (or its duplicate record)
 *   committed, so nothing acknowledged at ingest can be lost by this process dying;
 * - while PostgreSQL is down the batch is held (its ack deadline extended) and retried; nothing is
 *   acked or dead-lettered for an outage, so no delivery attempt is burnt on it;
 * - a message that can never be stored is dead-lettered (dead-letter.ts); one PostgreSQL refuses
 *   is redelivered later (retryDelayMs) and dead-lettered only on its last permitted delivery.
 */
export class EventWriter {
  private loops: Promise<void>[] = [];

  constructor(
    private readonly parts: EventWriterParts,
    private readonly config: ConsumerAppConfig,
  ) {}

  start(): void {
    const batchSize = this.config.PERSIST_MODE === 'per-event' ? 1 : this.config.BATCH_SIZE;
    for (let i = 0; i < this.config.CONSUMER_CONCURRENCY; i++) this.loops.push(this.persistLoop(batchSize));
  }

  /** Resolves once every batch in hand is stored and acked (or handed back). */
  async stopped(): Promise<void> {
    await Promise.all(this.loops);
  }

  private async persistLoop(batchSize: number) {
    for (;;) {
      const batch = await this.parts.puller.next(batchSize);
      if (!batch) return;
      await this.handleBatch(batch);
    }
  }

  private async handleBatch(batch: JsMsg[]) {
    const pending: Pending[] = [];
    for (const msg of batch) {
      const decoded = decodeDelivery(streamSequenceOf(msg), msg.data);
      if (decoded.ok) pending.push({ msg, delivery: decoded.delivery });
      else await this.parts.deadLetters.deadLetter(msg, decoded.reason);
    }
    if (pending.length === 0) return;
    try {
      await this.persistWithRetry(pending);
    } catch (err) {
      // The database is up but refused this batch: find the message(s) it cannot take.
      this.parts.log.warn({ err: (err as Error).message, size: pending.length }, 'batch refused; persisting one by one');
      for (const p of pending) {
        try {
          await this.persistWithRetry([p]);
        } catch (oneErr) {
          const reason = `database refused it: ${(oneErr as Error).message}`;
          const deliveries = p.msg.info.deliveryCount;
          if (deliveries < this.config.CONSUMER_MAX_DELIVER) p.msg.nak(retryDelayMs(deliveries, this.config));
          else await this.parts.deadLetters.deadLetter(p.msg, reason);
        }
      }
    }
  }

  /**
   * Persists and acks. Retries for as long as PostgreSQL is unreachable (extending the ack
   * deadline); throws only when PostgreSQL is reachable and still refuses the batch.
   */
  private async persistWithRetry(pending: Pending[]) {
    const { db, health, metrics, log } = this.parts;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const outcome = await persistBatch(
          db,
          pending.map((p) => p.delivery),
        );
        const committedAt = Date.now();
        for (const p of pending) p.msg.ack();
        health.set(true);
        metrics.batchDuration.observe((performance.now() - started) / 1000);
        metrics.batchSize.observe(pending.length);
        metrics.persisted.inc(outcome.inserted.length);
        metrics.dbDuplicates.inc(outcome.duplicates);
        metrics.redeliveries.inc(outcome.redeliveries);
        for (const d of outcome.inserted) metrics.acceptToCommit.observe((committedAt - d.receivedAt.getTime()) / 1000);
        return;
      } catch (err) {
        if (await health.probe()) throw err;
        if (this.parts.stopping()) {
          // Not stored, not refused: back to the stream for whoever runs next.
          for (const p of pending) p.msg.nak();
          return;
        }
        const delay = backoffDelayMs(attempt, OUTAGE_BACKOFF);
        if (logsAttempt(attempt)) {
          log.warn({ err: (err as Error).message, attempt, held: pending.length }, 'PostgreSQL unavailable; holding batch');
        }
        for (const p of pending) p.msg.working();
        await sleep(delay);
      }
    }
  }
}
