import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';

/** What JetStream answered for one stored message. */
export interface PubAck {
  seq: number;
  /** JetStream already had this Nats-Msg-Id within its duplicate window; nothing new was stored. */
  duplicate: boolean;
}

export class PubAckTimeoutError extends Error {
  override name = 'PubAckTimeoutError';
}

interface Waiter {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  deadline: number;
}

/**
 * JetStream publish with the PubAck awaited, for many messages in flight at once: each message is
 * a plain PUB with a reply subject under ONE wildcard inbox subscription, and one timer sweeps
 * expired waiters. This is what the Go client's PublishAsync does.
 *
 * Why not `js.publish()`: the JavaScript client makes every publish a full request (a mux entry,
 * its own timer, a deferred, a copied options object, a retry loop with awaits), and the awaits
 * between publishes split one HTTP request's events over several socket writes. Those were the
 * largest share of ingest CPU in the batched benchmark (see bench/RESULTS.md). Here every
 * publish of one call goes out synchronously, so nats-core coalesces them into one write.
 */
export class PipelinedPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly waiters = new Map<string, Waiter>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private nextToken = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    // Deadlines are set in publish order with one timeout, so the sweep stops at the first live one.
    this.sweeper = setInterval(() => this.expire(performance.now()), Math.min(1_000, Math.max(10, timeoutMs / 10)));
    this.sweeper.unref();
  }

  /** Resolves with the PubAck; rejects on a JetStream error, no stream (503), or no answer in time. */
  publish(subject: string, payload: string, msgId: string): Promise<PubAck> {
    const token = (this.nextToken++).toString(36);
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.nc.publish(subject, payload, { reply: this.prefix + token, headers: h });
      } catch (err) {
        return reject(err as Error);
      }
      this.waiters.set(token, { resolve, reject, deadline: performance.now() + this.timeoutMs });
    });
  }

  /** Rejects whatever is still waiting and stops listening (call after draining the connection). */
  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    this.expire(Number.POSITIVE_INFINITY);
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
    if (!waiter) return; // answered after its timeout; the caller was already told 503
    this.waiters.delete(token);
    if (msg.headers?.hasError) {
      // 503 "no responders": no stream listens on the subject (deleted, or not yet created).
      return waiter.reject(new Error(`JetStream did not take the message: ${msg.headers.code} ${msg.headers.description}`));
    }
    let ack: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } };
    try {
      ack = JSON.parse(msg.string());
    } catch {
      return waiter.reject(new Error('JetStream sent an unreadable PubAck'));
    }
    if (ack.error) return waiter.reject(new Error(`JetStream refused the message: ${ack.error.code} ${ack.error.description}`));
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
