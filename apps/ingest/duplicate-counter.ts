import { headers } from '@nats-io/nats-core';
import { brokerDuplicateSubject, brokerDuplicateTotalSubject } from '../../shared/nats/topology.ts';
import type { PipelinedPublisher } from './pipelined-publisher.ts';

const incr = (n: number) => {
  const h = headers();
  h.set('Nats-Incr', `+${n}`);
  return h;
};

/** Adds this request's broker-caught duplicates to the per-topic counters and the total. */
export async function addBrokerDuplicates(publisher: PipelinedPublisher, stream: string, byTopic: Map<string, number>): Promise<void> {
  let total = 0;
  const increments = [...byTopic].map(([topic, n]) => {
    total += n;
    return publisher.publish(brokerDuplicateSubject(stream, topic), undefined, incr(n));
  });
  await Promise.all([...increments, publisher.publish(brokerDuplicateTotalSubject(stream), undefined, incr(total))]);
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Adds the broker-caught duplicates of many requests to the NATS counters with one increment per
 * topic (and one to the total) at a time: while an increment is on its way, the counts of the
 * requests that follow are summed, and sent together once it is answered (group commit).
 *
 * Why: every increment is a message JetStream stores and acknowledges, so sent per request they
 * would add a large share of a message per event (docs/decisions/0002-ingest-publish-path.md). A request still resolves only once an increment holding its counts is stored, so /stats
 * never lags a 202 it follows; if that increment fails, every request in it is told (503). A
 * request may wait out the increment in flight before its own: at most two publish timeouts.
 */
export class DuplicateCounter {
  private pending = new Map<string, number>();
  private waiters: Waiter[] = [];
  private sending = false;

  constructor(
    private readonly pipelined: PipelinedPublisher,
    private readonly stream: string,
  ) {}

  /** Resolves once these counts are stored in the counters. */
  add(byTopic: ReadonlyMap<string, number>): Promise<void> {
    for (const [topic, n] of byTopic) this.pending.set(topic, (this.pending.get(topic) ?? 0) + n);
    const stored = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.sending) this.send();
    return stored;
  }

  private send(): void {
    const counts = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    this.sending = true;
    addBrokerDuplicates(this.pipelined, this.stream, counts)
      .then(
        () => waiters.forEach((w) => w.resolve()),
        (err: Error) => waiters.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.sending = false;
        if (this.waiters.length > 0) this.send();
      });
  }
}
