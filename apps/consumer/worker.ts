import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { ConsumerConfig } from '../../shared/config.ts';
import { databaseReachable, type Db } from '../../shared/db/prisma.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { deadLetterSubject } from '../../shared/nats/topology.ts';
import { sleep } from '../../shared/retry.ts';
import { decodeMessage, type Delivery } from './decode.ts';
import { persistBatch } from './persist.ts';

/**
 * When to redeliver a message PostgreSQL refused on its `deliveries`-th delivery: a schedule of its
 * own (CONSUMER_RETRY_DELAY_MS, doubling, capped at CONSUMER_RETRY_DELAY_MAX_MS), not the ack
 * wait. An immediate nak would spend every permitted delivery within a second and dead-letter a
 * message whose refusal (a lock or statement timeout) lasts a few seconds.
 */
export function retryDelayMs(deliveries: number, config: Pick<ConsumerConfig, 'CONSUMER_RETRY_DELAY_MS' | 'CONSUMER_RETRY_DELAY_MAX_MS'>): number {
  return Math.min(config.CONSUMER_RETRY_DELAY_MAX_MS, config.CONSUMER_RETRY_DELAY_MS * 2 ** Math.min(deliveries - 1, 30));
}

interface Pending {
  msg: JsMsg;
  delivery: Delivery;
}

/**
 * Pulls from the shared durable consumer and persists in batches. Guarantees:
 * - a message is acked only after the transaction holding its row (or its duplicate record)
 *   committed, so nothing acknowledged at ingest can be lost by this process dying;
 * - while PostgreSQL is down the batch is held (its ack deadline extended) and retried; nothing is
 *   acked or dead-lettered for an outage, so no delivery attempt is burnt on it;
 * - a message that can never be stored is copied to the dead-letter subject, then terminated.
 */
export class EventWriter {
  private readonly buffer: JsMsg[] = [];
  private messages?: ConsumerMessages;
  private waiters: Array<() => void> = [];
  private resumePump?: () => void;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private dbHealthy = true;

  constructor(
    private readonly consumer: Consumer,
    private readonly js: JetStreamClient,
    private readonly db: Db,
    private readonly config: ConsumerConfig,
    private readonly metrics: ConsumerMetrics,
    private readonly log: Logger,
    /** Called if the pull subscription ends on its own: the process cannot consume any more. */
    private readonly onFatal: (err: Error) => void = () => {},
  ) {}

  get databaseHealthy() {
    return this.dbHealthy;
  }

  async start(): Promise<void> {
    const { BATCH_SIZE, CONSUMER_CONCURRENCY, PERSIST_MODE } = this.config;
    const inFlight = BATCH_SIZE * CONSUMER_CONCURRENCY;
    this.messages = await this.consumer.consume({
      max_messages: Math.min(inFlight * 2, 10_000),
      expires: 5_000,
      // If the stream or the durable disappears (NATS lost its volume), the client would wait for
      // someone to recreate it, and nobody would: the consumer creates the topology only at start.
      // Ending the subscription makes this process exit (onFatal), and its restart recreates the
      // stream after the sequences the database holds (shared/db/stream-sequence.ts).
      abort_on_missing_resource: true,
    });
    this.loops.push(this.pump(this.messages, inFlight * 2));
    const batchSize = PERSIST_MODE === 'per-event' ? 1 : BATCH_SIZE;
    for (let i = 0; i < CONSUMER_CONCURRENCY; i++) this.loops.push(this.persistLoop(batchSize));
  }

  /** Stops pulling, finishes and acks the batches in hand; returns buffered messages to the stream. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    this.wakeAll();
    this.resumePump?.();
    await Promise.all(this.loops);
    // Not yet taken into a batch: hand them back now rather than after ack_wait.
    for (const m of this.buffer.splice(0)) m.nak();
  }

  private wakeAll() {
    for (const w of this.waiters.splice(0)) w();
  }

  private async pump(messages: ConsumerMessages, highWater: number) {
    try {
      for await (const m of messages) {
        this.buffer.push(m);
        this.wakeAll();
        // Back-pressure: while the buffer is full we stop taking from the iterator, so the client
        // stops pulling and unprocessed messages stay in the stream, not in this process.
        if (this.buffer.length >= highWater && !this.stopping) {
          await new Promise<void>((resolve) => (this.resumePump = resolve));
        }
      }
      if (!this.stopping) this.onFatal(new Error('pull subscription ended'));
    } catch (err) {
      this.log.error({ err }, 'pull subscription failed');
      if (!this.stopping) this.onFatal(err as Error);
    }
  }

  private async nextBatch(size: number): Promise<JsMsg[] | undefined> {
    while (this.buffer.length === 0) {
      if (this.stopping) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    // A trickle of messages would otherwise become a transaction (and a WAL flush) per message;
    // waiting a few ms lets a batch form. Under load the buffer is full and nobody waits.
    if (this.buffer.length < size && this.config.BATCH_LINGER_MS > 0 && !this.stopping) {
      await sleep(this.config.BATCH_LINGER_MS);
      if (this.buffer.length === 0) return this.stopping ? undefined : this.nextBatch(size);
    }
    const batch = this.buffer.splice(0, size);
    this.resumePump?.();
    this.resumePump = undefined;
    return batch;
  }

  private async persistLoop(batchSize: number) {
    for (;;) {
      const batch = await this.nextBatch(batchSize);
      if (!batch) return;
      await this.handleBatch(batch);
    }
  }

  private async handleBatch(batch: JsMsg[]) {
    const pending: Pending[] = [];
    for (const msg of batch) {
      const decoded = decodeMessage(msg.seq, msg.data);
      if (decoded.ok) pending.push({ msg, delivery: decoded.delivery });
      else await this.deadLetter(msg, decoded.reason);
    }
    if (pending.length === 0) return;
    try {
      await this.persistWithRetry(pending);
    } catch (err) {
      // The database is up but refused this batch: find the message(s) it cannot take.
      this.log.warn({ err: (err as Error).message, size: pending.length }, 'batch refused; persisting one by one');
      for (const p of pending) {
        try {
          await this.persistWithRetry([p]);
        } catch (oneErr) {
          const reason = `database refused it: ${(oneErr as Error).message}`;
          // A refusal can be transient (lock timeout, serialization failure): redeliver later, and
          // give up only on the last permitted delivery.
          const deliveries = p.msg.info.deliveryCount;
          if (deliveries < this.config.CONSUMER_MAX_DELIVER) p.msg.nak(retryDelayMs(deliveries, this.config));
          else await this.deadLetter(p.msg, reason);
        }
      }
    }
  }

  /**
   * Persists and acks. Retries for as long as PostgreSQL is unreachable (extending the ack
   * deadline); throws only when PostgreSQL is reachable and still refuses the batch.
   */
  private async persistWithRetry(pending: Pending[]) {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const outcome = await persistBatch(this.db, pending.map((p) => p.delivery));
        const committedAt = Date.now();
        for (const p of pending) p.msg.ack();
        this.setDbHealthy(true);
        this.metrics.batchDuration.observe((performance.now() - started) / 1000);
        this.metrics.batchSize.observe(pending.length);
        this.metrics.persisted.inc(outcome.inserted.length);
        this.metrics.dbDuplicates.inc(outcome.duplicates);
        this.metrics.redeliveries.inc(outcome.redeliveries);
        for (const d of outcome.inserted) this.metrics.acceptToCommit.observe((committedAt - d.receivedAt.getTime()) / 1000);
        return;
      } catch (err) {
        if (await databaseReachable(this.db)) throw err;
        this.setDbHealthy(false);
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        if (attempt === 1 || attempt % 10 === 0) {
          this.log.warn({ err: (err as Error).message, attempt, held: pending.length }, 'PostgreSQL unavailable; holding batch');
        }
        for (const p of pending) p.msg.working();
        await sleep(delay);
      }
    }
  }

  /** Probes PostgreSQL so readiness reflects an outage even while no batch is in hand. */
  async checkDatabase(): Promise<void> {
    this.setDbHealthy(await databaseReachable(this.db));
  }

  private setDbHealthy(up: boolean) {
    if (this.dbHealthy !== up) this.log[up ? 'info' : 'error'](up ? 'PostgreSQL is back' : 'PostgreSQL is unreachable');
    this.dbHealthy = up;
    this.metrics.dbUp.set(up ? 1 : 0);
  }

  /**
   * Copies the message to the dead-letter subject, then terminates it. Retried (the ack deadline
   * extended meanwhile) until it succeeds: on its last permitted delivery a message that is
   * neither acked nor terminated would be dropped by the consumer, not dead-lettered.
   */
  private async deadLetter(msg: JsMsg, reason: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.publishDeadLetter(msg, reason);
        return;
      } catch (err) {
        if (attempt === 1 || attempt % 10 === 0) {
          this.log.error({ err: (err as Error).message, seq: msg.seq, attempt }, 'could not dead-letter message; retrying');
        }
        if (this.stopping) return;
        msg.working();
        await sleep(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }

  private async publishDeadLetter(msg: JsMsg, reason: string) {
    const topic = msg.subject.split('.').slice(1).join('.') || 'unknown';
    const h = msg.headers ?? headers();
    // Header values cannot hold line breaks (database errors often do).
    h.set('Dlq-Reason', reason.replace(/[\r\n]+/g, ' ').trim().slice(0, 1_000));
    h.set('Dlq-Stream-Seq', String(msg.seq));
    h.set('Dlq-Deliveries', String(msg.info.deliveryCount));
    h.set('Dlq-Subject', msg.subject);
    // Idempotent by stream sequence: a crash between this publish and term() cannot count it twice.
    await this.js.publish(deadLetterSubject(this.config.STREAM_NAME, topic), msg.data, {
      headers: h,
      msgID: `dlq:${this.config.STREAM_NAME}:${msg.seq}`,
    });
    msg.term(reason.replace(/[\r\n]+/g, ' ').trim().slice(0, 200));
    this.metrics.deadLettered.inc();
    this.log.error({ seq: msg.seq, subject: msg.subject, reason }, 'message dead-lettered');
  }
}
