import { headers } from '@nats-io/nats-core';
import { addBrokerDuplicates } from '../../shared/nats/counters.ts';
import { msgIdFor, subjectFor, type Event } from '../../shared/event.ts';
import type { PipelinedPublisher } from '../../shared/nats/pipelined-publisher.ts';

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

/** The broker-side dedup key: JetStream drops a second message with this id inside its window. */
function msgIdHeader(event: Event) {
  const h = headers();
  h.set('Nats-Msg-Id', msgIdFor(event));
  return h;
}

/** Caps unacknowledged publishes per process so overload turns into waiting, not memory growth. */
class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private available: number) {}
  /** Takes a slot if one is free without a microtask per event (the common case: slots to spare). */
  tryAcquire(): boolean {
    if (this.available === 0) return false;
    this.available--;
    return true;
  }
  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
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
    private readonly publisher: PipelinedPublisher,
    private readonly stream: string,
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
    let failure: Error | undefined;
    const dupByTopic = new Map<string, number>();
    const acks: Promise<void>[] = [];
    for (const { event, json } of events) {
      if (!this.slots.tryAcquire()) await this.slots.acquire();
      if (failure) {
        this.slots.release();
        break;
      }
      acks.push(
        this.publisher.publish(subjectFor(event.topic), json, msgIdHeader(event)).then(
          (ack) => {
            this.slots.release();
            if (ack.duplicate) {
              duplicates++;
              dupByTopic.set(event.topic, (dupByTopic.get(event.topic) ?? 0) + 1);
            }
          },
          (err: Error) => {
            this.slots.release();
            failure ??= err;
          },
        ),
      );
    }
    await Promise.all(acks);
    try {
      if (failure) throw failure;
      if (dupByTopic.size > 0) await addBrokerDuplicates(this.publisher, this.stream, dupByTopic);
    } catch (err) {
      throw new PublishUnavailableError(`JetStream did not acknowledge: ${(err as Error).message}`, { cause: err });
    }
    return { accepted: events.length, duplicates };
  }
}
