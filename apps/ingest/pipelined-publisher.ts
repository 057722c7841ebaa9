import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';

/** What JetStream answered for one stored message. */
export interface PubAck {
  seq: number;
  /** JetStream already had this Nats-Msg-Id within its duplicate window; nothing new was stored. */
  duplicate: boolean;
}

export class PubAckTimeoutError extends Error {
  override name = 'PubAckTimeoutError';
}

/** JetStream answered the publish with an error: its HTTP-like code and its own error code. */
export class JetStreamRefusalError extends Error {
  override name = 'JetStreamRefusalError';
  constructor(
    readonly code: number | undefined,
    /** JetStream's err_code, e.g. 10158 "duplicate message id is in process". */
    readonly errCode: number | undefined,
    description: string | undefined,
  ) {
    super(`JetStream refused the message: ${code} ${description}`);
  }
}

interface Waiter {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface Queued {
  subject: string;
  payload: string | Uint8Array | undefined;
  headers: MsgHdrs;
  token: string;
  waiter: Waiter;
}

/**
 * JetStream publish with the PubAck awaited, for many messages in flight at once: each message is
 * a plain PUB with a reply subject under ONE wildcard inbox subscription, and one timer sweeps
 * expired waiters. This is what the Go client's PublishAsync does.
 *
 * Why not `js.publish()`: the JavaScript client makes every publish a full request (a mux entry,
 * its own timer, a deferred, a copied options object, a retry loop with awaits), and the awaits
 * between publishes split one HTTP request's events over several socket writes: the largest cost
 * of batched publishing (docs/decisions/0002-ingest-publish-path.md).
 *
 * Publishes are queued and sent together once per event-loop turn (setImmediate): nats-core
 * writes everything published in one tick with one socket write, so the events of all HTTP
 * requests read in the same turn share a write: on loopback a write costs far more than the bytes
 * in it.
 */
export class PipelinedPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly waiters = new Map<string, Waiter>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private queue: Queued[] = [];
  private nextToken = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    // Deadlines are set in publish order with one timeout, so the sweep stops at the first live one.
    // The expiry itself waits for the poll phase of this event-loop turn (setImmediate): after the
    // loop was blocked (a huge body being parsed), the timer fires first, while the PubAcks that
    // arrived meanwhile still sit unread in the socket; those are stored messages, not timeouts.
    this.sweeper = setInterval(
      () => {
        const now = performance.now();
        setImmediate(() => this.expire(now));
      },
      Math.min(1_000, Math.max(10, timeoutMs / 10)),
    );
    this.sweeper.unref();
  }

  /** Resolves with the PubAck; rejects on a JetStream error, no stream (503), or no answer in time. */
  publish(subject: string, payload: string | Uint8Array | undefined, headers: MsgHdrs): Promise<PubAck> {
    return new Promise<PubAck>((resolve, reject) => {
      const token = (this.nextToken++).toString(36);
      const waiter = { resolve, reject, deadline: performance.now() + this.timeoutMs };
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ subject, payload, headers, token, waiter });
    });
  }

  /** Rejects whatever is still waiting and stops listening (call after draining the connection). */
  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    for (const q of this.queue.splice(0)) q.waiter.reject(new PubAckTimeoutError('publisher closed before sending'));
    this.expire(Number.POSITIVE_INFINITY);
  }

  private flush() {
    const queue = this.queue;
    this.queue = [];
    for (const { subject, payload, headers, token, waiter } of queue) {
      try {
        this.nc.publish(subject, payload, { reply: this.prefix + token, headers });
      } catch (err) {
        waiter.reject(err as Error); // closed connection, oversized message
        continue;
      }
      this.waiters.set(token, waiter);
    }
  }

  private onReply(err: Error | null, msg: Msg) {
    if (err) {
      // The subscription itself failed (e.g. a permissions violation): nothing more will arrive.
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
      return;
    }
    const token = msg.subject.slice(this.prefix.length);
    const waiter = this.waiters.get(token);
    if (!waiter) return; // answered after its timeout; the caller was already told
    this.waiters.delete(token);
    if (msg.headers?.hasError) {
      // 503 "no responders": no stream listens on the subject (deleted, or not yet created).
      return waiter.reject(new Error(`JetStream did not take the message: ${msg.headers.code} ${msg.headers.description}`));
    }
    let ack: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
    try {
      ack = JSON.parse(msg.string());
    } catch {
      return waiter.reject(new Error('JetStream sent an unreadable PubAck'));
    }
    if (ack.error) return waiter.reject(new JetStreamRefusalError(ack.error.code, ack.error.err_code, ack.error.description));
    if (!ack.stream || typeof ack.seq !== 'number') return waiter.reject(new Error('JetStream sent an invalid PubAck'));
    waiter.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
  }

  private expire(now: number) {
    for (const [token, w] of this.waiters) {
      if (w.deadline > now) break;
      this.waiters.delete(token);
      w.reject(new PubAckTimeoutError(`no PubAck within ${this.timeoutMs} ms`));
    }
  }
}
