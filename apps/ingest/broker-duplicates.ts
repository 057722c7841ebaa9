import type { JetStreamManager } from '@nats-io/jetstream';
import { brokerDuplicateSubject, brokerDuplicateTotalSubject, counterStreamName } from '../../shared/nats/topology.ts';

// Broker-caught duplicates are seen only by ingest (the PubAck says `duplicate`), so they are kept
// in NATS distributed counters (ADR-49): one per topic, and one total, so /stats reads the total in
// one request however many topics there are.

/** nats-server refuses a multi-subject direct get with more results than this ("too many results"). */
export const MAX_SUBJECTS_PER_READ = 1000;

const valueOf = (msg: { json<T>(): T } | null | undefined) => Number(msg?.json<{ val?: string }>().val ?? 0);

/** All broker duplicates of the stream: one request. */
export async function readBrokerDuplicateTotal(jsm: JetStreamManager, stream: string): Promise<number> {
  return valueOf(await jsm.direct.getMessage(counterStreamName(stream), { last_by_subj: brokerDuplicateTotalSubject(stream) }));
}

/** Broker duplicates of the given topics (at most MAX_SUBJECTS_PER_READ): one request. */
export async function readBrokerDuplicates(jsm: JetStreamManager, stream: string, topics: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (topics.length === 0) return out;
  if (topics.length > MAX_SUBJECTS_PER_READ) throw new RangeError(`at most ${MAX_SUBJECTS_PER_READ} topics per read`);
  const prefix = brokerDuplicateSubject(stream, '');
  const messages = await jsm.direct.getLastMessagesFor(counterStreamName(stream), { multi_last: topics.map((t) => prefix + t) });
  for await (const m of messages) out.set(m.subject.slice(prefix.length), valueOf(m));
  return out;
}
