import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import type { Log } from '../../shared/logger.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { deadLetterSubject } from '../../shared/nats/topology.ts';
import { backoffDelayMs, logsAttempt, sleep, type Backoff } from '../../shared/retry.ts';

/** Header values cannot hold line breaks (database errors often do). */
const oneLine = (s: string, max: number) =>
  s
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, max);

/** How often copying a message to the dead-letter stream is tried again. */
export const DEAD_LETTER_BACKOFF: Backoff = { initialMs: 200, maxMs: 5_000 };

/**
 * Moves a message that can never be stored out of the way: copies it to `dlq.<STREAM>.<topic>`
 * (with why, its stream sequence, its deliveries and subject in headers), then terminates it, so
 * it is neither redelivered nor blocks the rest.
 */
export class DeadLetterer {
  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly metrics: ConsumerMetrics,
    private readonly log: Log,
    private readonly stopping: () => boolean,
  ) {}

  /**
   * Retried (the ack deadline extended meanwhile) until the copy is stored: on its last permitted
   * delivery a message that is neither acked nor terminated would be dropped by the consumer, not
   * dead-lettered.
   */
  async deadLetter(msg: JsMsg, reason: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.publish(msg, reason);
        return;
      } catch (err) {
        if (logsAttempt(attempt)) {
          this.log.error({ err: (err as Error).message, seq: msg.seq, attempt }, 'could not dead-letter message; retrying');
        }
        if (this.stopping()) return;
        msg.working();
        await sleep(backoffDelayMs(attempt, DEAD_LETTER_BACKOFF));
      }
    }
  }

  private async publish(msg: JsMsg, reason: string) {
    const topic = msg.subject.split('.').slice(1).join('.') || 'unknown';
    // A new header set: the original's Nats-* headers are instructions to the broker about the
    // original publish (Nats-Msg-Id, Nats-Expected-Stream...) and would make it refuse or
    // misattribute the copy, which would then be retried for good. The publisher's own headers travel.
    const h = headers();
    for (const [k, values] of msg.headers ?? []) {
      if (!/^nats-/i.test(k)) for (const value of values) h.append(k, value);
    }
    h.set('Dlq-Reason', oneLine(reason, 1_000));
    h.set('Dlq-Stream-Seq', String(msg.seq));
    h.set('Dlq-Deliveries', String(msg.info.deliveryCount));
    h.set('Dlq-Subject', msg.subject);
    // Idempotent by stream sequence: a crash between this publish and term() cannot count it twice.
    await this.js.publish(deadLetterSubject(this.stream, topic), msg.data, { headers: h, msgID: `dlq:${this.stream}:${msg.seq}` });
    msg.term(oneLine(reason, 200));
    this.metrics.deadLettered.inc();
    this.log.error({ seq: msg.seq, subject: msg.subject, reason }, 'message dead-lettered');
  }
}
