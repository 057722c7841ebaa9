import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Log } from '../../shared/logger.ts';

export interface PullOptions {
  /** Messages held in this process at most; beyond it the pull stops until batches are taken. */
  highWater: number;
  /** Wait this long for a partial batch to fill (BATCH_LINGER_MS). */
  lingerMs: number;
}

/**
 * Pulls from the shared durable consumer into a bounded buffer and hands out batches. Back-pressure:
 * while the buffer is full it stops taking from the pull iterator, so the client stops asking and
 * unprocessed messages stay in the stream, not in this process.
 */
export class BatchPuller {
  private readonly buffer: JsMsg[] = [];
  private messages?: ConsumerMessages;
  private waiters: Array<() => void> = [];
  /** next() calls waiting for their batch to fill (see filledOrAfter). */
  private readonly fillWaiters = new Set<{ size: number; wake: () => void }>();
  private resumePump?: () => void;
  private stopping = false;
  private pumping?: Promise<void>;

  constructor(
    private readonly consumer: Consumer,
    private readonly opts: PullOptions,
    private readonly log: Log,
    /** Called if the pull subscription ends by itself: this process cannot consume any more. */
    private readonly onEnded: (err: Error) => void,
  ) {}

  async start(): Promise<void> {
    this.messages = await this.consumer.consume({
      max_messages: Math.min(this.opts.highWater, 10_000),
      expires: 5_000,
      // If the stream or the durable disappears (NATS lost its volume), the client would wait for
      // someone to recreate it, and nobody would: the consumer creates the topology only at start.
      // Ending the subscription makes this process exit (onEnded), and its restart recreates the
      // stream after the sequences the database holds (apps/consumer/stream-sequence.ts).
      abort_on_missing_resource: true,
    });
    this.pumping = this.pump(this.messages);
  }

  /**
   * The next batch of at most `size` messages; undefined once stopping (what is still buffered then
   * goes back to the stream in drain(), rather than being stored during a shutdown's grace period).
   * A trickle of messages would otherwise become a transaction (and a WAL flush) per message:
   * waiting up to lingerMs lets a batch form, and the wait ends as soon as the batch is full, so
   * under load nobody waits longer than it takes `size` messages to arrive.
   */
  async next(size: number): Promise<JsMsg[] | undefined> {
    while (this.buffer.length === 0 && !this.stopping) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.stopping) return undefined;
    if (this.buffer.length < size && this.opts.lingerMs > 0) {
      await this.filledOrAfter(size, this.opts.lingerMs);
      if (this.stopping) return undefined;
      if (this.buffer.length === 0) return this.next(size);
    }
    const batch = this.buffer.splice(0, size);
    this.resumePump?.();
    this.resumePump = undefined;
    return batch;
  }

  /** Resolves once the buffer holds `size` messages, after `ms` at the latest, or on stop(). */
  private filledOrAfter(size: number, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter = {
        size,
        wake: () => {
          clearTimeout(timer);
          this.fillWaiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, ms);
      this.fillWaiters.add(waiter);
    });
  }

  /** Stops pulling and wakes every waiting next(); call drain() once no batch is in hand. */
  stop(): void {
    this.stopping = true;
    this.messages?.stop();
    for (const w of this.waiters.splice(0)) w();
    for (const w of this.fillWaiters) w.wake();
    this.resumePump?.();
  }

  /** Hands buffered messages back to the stream now rather than after the ack wait. */
  async drain(): Promise<void> {
    await this.pumping;
    for (const m of this.buffer.splice(0)) m.nak();
  }

  private async pump(messages: ConsumerMessages) {
    try {
      for await (const m of messages) {
        this.buffer.push(m);
        for (const w of this.waiters.splice(0)) w();
        for (const w of this.fillWaiters) if (this.buffer.length >= w.size) w.wake();
        if (this.buffer.length >= this.opts.highWater && !this.stopping) {
          await new Promise<void>((resolve) => (this.resumePump = resolve));
        }
      }
      if (!this.stopping) this.onEnded(new Error('pull subscription ended'));
    } catch (err) {
      this.log.error({ err }, 'pull subscription failed');
      if (!this.stopping) this.onEnded(err as Error);
    }
  }
}
