import { headers, type MsgHdrs } from '@nats-io/nats-core';
import { msgIdFor, subjectFor, type Event } from '../../shared/event.ts';
import { JetStreamRefusalError, PubAckTimeoutError, type PipelinedPublisher } from './pipelined-publisher.ts';
import { backoffDelayMs, sleep, type Backoff } from '../../shared/retry.ts';
import { DuplicateCounter } from './duplicate-counter.ts';

/** JetStream did not acknowledge in time or is unreachable: answered 503 with Retry-After. */
export class PublishUnavailableError extends Error {
  override name = 'PublishUnavailableError';
}

/**
 * The event stream is at its byte cap (or nats-server's file store is full): JetStream refused the
 * event rather than drop a stored one (discard New). Back-pressure, not a fault: answered 503 with
 * Retry-After while the replica stays ready.
 */
export class BufferFullError extends PublishUnavailableError {
  override name = 'BufferFullError';
}

/**
 * JetStream's refusals that mean "no room": 10077 carries the store's own error ("maximum bytes
 * exceeded" at the stream's max_bytes with discard New), 10023 is "insufficient resources" (the
 * server's max_file_store is used up).
 */
const STORE_FAILED = 10077;
const INSUFFICIENT_RESOURCES = 10023;
export const isNoRoom = (err: unknown): boolean =>
  err instanceof JetStreamRefusalError &&
  (err.errCode === INSUFFICIENT_RESOURCES || (err.errCode === STORE_FAILED && /maximum (bytes|messages)/i.test(err.message)));

export interface EncodedEvent {
  /** What publishing needs besides the encoding: not the payload, which the encoding holds. */
  event: Pick<Event, 'topic' | 'event_id'>;
  /** The event as it travels on the stream (with received_at). */
  json: string;
}

export interface PublishResult {
  accepted: number;
  /** Events JetStream already had within its dedup window, and repeats within the request. */
  duplicates: number;
}

/** A message ready to go: nothing about it can throw any more. */
interface Prepared {
  topic: string;
  subject: string;
  json: string;
  headers: MsgHdrs;
}

/**
 * JetStream's answer, on a clustered stream, to a Nats-Msg-Id whose first copy is still being
 * replicated: "duplicate message id is in process". It is not an outcome: that first copy may yet
 * fail, and a 202 must mean stored. Asking again soon gets the real answer (a duplicate ack once the
 * copy is stored, or a fresh store if it was dropped).
 */
const DUPLICATE_IN_PROCESS = 10158;
export const IN_PROCESS_BACKOFF: Backoff = { initialMs: 10, maxMs: 250 };

/**
 * Caps unacknowledged publishes per process so overload turns into waiting, not memory growth. A
 * waiter gives up at its request's deadline: otherwise, with JetStream slow, queued requests would
 * wait one publish timeout per request ahead of them, and publish long after their client retried.
 */
class Semaphore {
  private waiters: Array<{ handOver: () => void }> = [];
  constructor(private available: number) {}
  /** Takes a slot if one is free without a microtask per event (the common case: slots to spare). */
  tryAcquire(): boolean {
    if (this.available === 0) return false;
    this.available--;
    return true;
  }
  /** True once a slot is held; false if none came free before `deadline` (performance.now() time). */
  acquire(deadline: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        handOver: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        },
        Math.max(0, deadline - performance.now()),
      );
      this.waiters.push(waiter);
    });
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next.handOver();
    else this.available++;
  }
}

export class EventPublisher {
  private readonly slots: Semaphore;
  private readonly duplicateCounter: DuplicateCounter;
  private inFlight = 0;
  /** When a publish last settled, or when the publisher became busy: see stalled(). */
  private lastProgress = performance.now();

  constructor(
    private readonly pipelined: PipelinedPublisher,
    stream: string,
    maxInFlight: number,
    private readonly timeoutMs: number,
    /** Called each time a publish is asked again because its copy was in process (a metric). */
    private readonly onInProcessRetry: () => void = () => {},
  ) {
    this.slots = new Semaphore(maxInFlight);
    this.duplicateCounter = new DuplicateCounter(pipelined, stream);
  }

  /**
   * True when publishes are outstanding and none has settled (acknowledged or failed) for twice the
   * publish timeout. Every publish settles within the timeout, so this means publishing is wedged
   * and requests would wait forever: readiness reports it so the replica leaves the Service.
   */
  stalled(now = performance.now()): boolean {
    return this.inFlight > 0 && now - this.lastProgress > 2 * this.timeoutMs;
  }

  /**
   * Publishes every event and resolves once JetStream acknowledged all of them; the caller's 202
   * therefore means "stored by the stream". Events of one request are pipelined, not awaited one
   * by one. Everything that could throw (headers, ids) is built before the first publish, so an
   * event that cannot be sent never leaves half a batch stored. A failure of JetStream rejects with
   * PublishUnavailableError: some events may be stored already, and the client's retry is absorbed
   * by the Nats-Msg-Id dedup window and the database.
   */
  async publish(events: readonly EncodedEvent[]): Promise<PublishResult> {
    const prepared = new Map<string, Prepared>();
    const dupByTopic = new Map<string, number>();
    const countDuplicate = (topic: string) => dupByTopic.set(topic, (dupByTopic.get(topic) ?? 0) + 1);
    for (const { event, json } of events) {
      const id = msgIdFor(event);
      // A repeat within the request is a duplicate the broker never sees: publishing both copies
      // would race them against each other on a clustered stream (see DUPLICATE_IN_PROCESS).
      if (prepared.has(id)) countDuplicate(event.topic);
      else prepared.set(id, { topic: event.topic, subject: subjectFor(event.topic), json, headers: msgIdHeader(id) });
    }

    const deadline = performance.now() + this.timeoutMs;
    let failure: Error | undefined;
    const acks: Promise<void>[] = [];
    for (const message of prepared.values()) {
      if (!this.slots.tryAcquire() && !(await this.slots.acquire(deadline))) {
        failure ??= new PubAckTimeoutError(`no publish slot came free within ${this.timeoutMs} ms (MAX_PUBLISH_IN_FLIGHT)`);
        break;
      }
      if (failure) {
        this.slots.release();
        break;
      }
      if (this.inFlight++ === 0) this.lastProgress = performance.now();
      acks.push(
        this.publishOne(message, deadline)
          .then(
            (duplicate) => void (duplicate && countDuplicate(message.topic)),
            (err: Error) => void (failure ??= err),
          )
          .finally(() => {
            this.inFlight--;
            this.lastProgress = performance.now();
            this.slots.release();
          }),
      );
    }
    await Promise.all(acks);
    try {
      if (failure) throw failure;
      if (dupByTopic.size > 0) await this.duplicateCounter.add(dupByTopic);
    } catch (err) {
      if (isNoRoom(err)) throw new BufferFullError(`the event buffer is full: ${(err as Error).message}`, { cause: err });
      throw new PublishUnavailableError(`JetStream did not acknowledge: ${(err as Error).message}`, { cause: err });
    }
    let duplicates = 0;
    for (const n of dupByTopic.values()) duplicates += n;
    return { accepted: events.length, duplicates };
  }

  /** Resolves with whether JetStream already had the message; asks again while its copy is in process. */
  private async publishOne(message: Prepared, deadline: number): Promise<boolean> {
    for (let retry = 1; ; retry++) {
      try {
        return (await this.pipelined.publish(message.subject, message.json, message.headers)).duplicate;
      } catch (err) {
        const inProcess = err instanceof JetStreamRefusalError && err.errCode === DUPLICATE_IN_PROCESS;
        const delay = backoffDelayMs(retry, IN_PROCESS_BACKOFF);
        if (!inProcess || performance.now() + delay > deadline) throw err;
        this.onInProcessRetry();
        await sleep(delay);
      }
    }
  }
}

/** The broker-side dedup key: JetStream drops a second message with this id inside its window. */
function msgIdHeader(id: string): MsgHdrs {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return h;
}
