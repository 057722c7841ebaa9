import { headers } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Log } from '../logger.ts';
import { brokerDuplicateSubject, brokerDuplicateTotalSubject, counterStreamName } from './topology.ts';

// Broker-caught duplicates are seen only by ingest (the PubAck says `duplicate`), so they are kept
// in NATS distributed counters (ADR-49): one per topic, and one total, so /stats reads the total in
// one request however many topics there are.

/** nats-server refuses a multi-subject direct get with more results than this ("too many results"). */
export const MAX_SUBJECTS_PER_READ = 1000;

const incr = (n: number) => {
  const h = headers();
  h.set('Nats-Incr', `+${n}`);
  return h;
};

const valueOf = (msg: { json<T>(): T } | null | undefined) => Number(msg?.json<{ val?: string }>().val ?? 0);

/**
 * Whether the total exists. Until the consumer has created it (from the per-topic counters, when
 * upgrading from a release without it), an ingest that counted a duplicate would create it from
 * that one increment and the history would be lost: ingest stays unready meanwhile (/readyz).
 */
export async function brokerDuplicateTotalExists(jsm: JetStreamManager, stream: string): Promise<boolean> {
  return (await jsm.direct.getMessage(counterStreamName(stream), { last_by_subj: brokerDuplicateTotalSubject(stream) })) !== null;
}

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

/**
 * Creates the total counter when it is missing, as the sum of the per-topic counters: releases
 * before the total kept only those. Two replicas starting together publish under the same
 * Nats-Msg-Id, so only one sum is added. New ingest replicas wait for it (their readiness), but a
 * replica of the older release that counts a duplicate after the sum was taken adds to its topic
 * only: the total can be short by the duplicates old replicas catch during the rollout
 * (docs/kubernetes.md).
 */
export async function ensureBrokerDuplicateTotal(jsm: JetStreamManager, stream: string, log: Log): Promise<void> {
  const name = counterStreamName(stream);
  if (await jsm.direct.getMessage(name, { last_by_subj: brokerDuplicateTotalSubject(stream) })) return;
  const prefix = brokerDuplicateSubject(stream, '');
  const info = await jsm.streams.info(name, { subjects_filter: `${prefix}>` });
  const topics = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  let sum = 0;
  for (let i = 0; i < topics.length; i += MAX_SUBJECTS_PER_READ) {
    for (const n of (await readBrokerDuplicates(jsm, stream, topics.slice(i, i + MAX_SUBJECTS_PER_READ))).values()) sum += n;
  }
  await jsm
    .jetstream()
    .publish(brokerDuplicateTotalSubject(stream), undefined, { headers: incr(sum), msgID: `broker-duplicate-total:${stream}` });
  if (topics.length > 0)
    log.info({ stream, topics: topics.length, total: sum }, 'created the broker-duplicate total from the per-topic counters');
}
