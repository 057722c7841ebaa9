import type { JetStreamClient } from '@nats-io/jetstream';
import { addBrokerDuplicates } from '../../shared/nats/counters.ts';
import { msgIdFor, subjectFor, type Event } from '../../shared/event.ts';

/** JetStream did not acknowledge in time or is unreachable: answered 503 with Retry-After. */
export class PublishUnavailableError extends Error {
  override name = 'PublishUnavailableError';
}

export interface EncodedEvent {
  event: Event;
  /** The event as it travels on the stream (with received_at). */
  json: string;
}

export interface PublishResult {
  accepted: number;
  /** Events JetStream already had within its dedup window. */
  duplicates: number;
}

/** Caps unacknowledged publishes per process so overload turns into waiting, not memory growth. */
class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private available: number) {}
  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available++;
  }
}

export class EventPublisher {
  private readonly slots: Semaphore;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly timeoutMs: number,
    maxInFlight: number,
  ) {
    this.slots = new Semaphore(maxInFlight);
  }

  /**
   * Publishes every event and resolves once JetStream acknowledged all of them; the caller's 202
   * therefore means "stored by the stream". Events of one request are pipelined, not awaited one
   * by one. Any failure rejects with PublishUnavailableError: some events may be stored already,
   * and the client's retry is absorbed by the Nats-Msg-Id dedup window and the database.
   */
  async publish(events: readonly EncodedEvent[]): Promise<PublishResult> {
    let duplicates = 0;
    const dupByTopic = new Map<string, number>();
    try {
      await Promise.all(
        events.map(async ({ event, json }) => {
          await this.slots.acquire();
          try {
            const ack = await this.js.publish(subjectFor(event.topic), json, {
              msgID: msgIdFor(event),
              timeout: this.timeoutMs,
              retries: 1,
            });
            if (ack.duplicate) {
              duplicates++;
              dupByTopic.set(event.topic, (dupByTopic.get(event.topic) ?? 0) + 1);
            }
          } finally {
            this.slots.release();
          }
        }),
      );
      if (dupByTopic.size > 0) await addBrokerDuplicates(this.js, this.stream, dupByTopic, this.timeoutMs);
    } catch (err) {
      throw new PublishUnavailableError(`JetStream did not acknowledge: ${(err as Error).message}`, { cause: err });
    }
    return { accepted: events.length, duplicates };
  }
}
