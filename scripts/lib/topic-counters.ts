// Many topics at once, for measuring what /stats costs when publishers invent topics: counters
// written straight into PostgreSQL and NATS, as if events and broker duplicates had arrived.
import { headers } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { brokerDuplicateSubject, brokerDuplicateTotalSubject } from '../../shared/nats/topology.ts';

/**
 * Topics `<prefix><from>`..`<prefix><to - 1>`: topic i has i stored events, i % 3 database
 * duplicates and 1 broker duplicate (also added to the total). The stream and its counter stream
 * must exist (an ingest or consumer started once).
 */
export async function writeTopicCounters(
  db: pg.Client,
  nc: NatsConnection,
  stream: string,
  prefix: string,
  from: number,
  to: number,
): Promise<void> {
  await db.query(
    `INSERT INTO topic_counters (topic, unique_processed, duplicates_dropped)
     SELECT $1 || i, i, i % 3 FROM generate_series($2::int, $3::int - 1) i`,
    [prefix, from, to],
  );
  const incr = (n: number) => {
    const h = headers();
    h.set('Nats-Incr', `+${n}`);
    return h;
  };
  for (let i = from; i < to; i += 500) {
    const end = Math.min(i + 500, to);
    const increments = [];
    for (let j = i; j < end; j++)
      increments.push(nc.request(brokerDuplicateSubject(stream, `${prefix}${j}`), undefined, { headers: incr(1), timeout: 10_000 }));
    increments.push(nc.request(brokerDuplicateTotalSubject(stream), undefined, { headers: incr(end - i), timeout: 10_000 }));
    await Promise.all(increments);
  }
}
