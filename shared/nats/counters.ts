import { headers } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { PipelinedPublisher } from './pipelined-publisher.ts';
import { brokerDuplicateSubject, counterStreamName } from './topology.ts';

/** Adds this request's broker-caught duplicates to the durable per-topic counters. */
export async function addBrokerDuplicates(publisher: PipelinedPublisher, stream: string, byTopic: Map<string, number>): Promise<void> {
  await Promise.all(
    [...byTopic].map(([topic, n]) => {
      const h = headers();
      h.set('Nats-Incr', `+${n}`);
      return publisher.publish(brokerDuplicateSubject(stream, topic), undefined, h);
    }),
  );
}

/** Current per-topic broker-duplicate counts. */
export async function readBrokerDuplicates(jsm: JetStreamManager, stream: string): Promise<Map<string, number>> {
  const name = counterStreamName(stream);
  const prefix = `counters.${stream}.broker_duplicates.`;
  const info = await jsm.streams.info(name, { subjects_filter: `${prefix}>` });
  const subjects = Object.keys(info.state.subjects ?? {});
  const out = new Map<string, number>();
  await Promise.all(
    subjects.map(async (subject) => {
      const msg = await jsm.streams.getMessage(name, { last_by_subj: subject });
      const val = Number((msg?.json<{ val?: string }>() ?? {}).val ?? 0);
      out.set(subject.slice(prefix.length), val);
    }),
  );
  return out;
}
