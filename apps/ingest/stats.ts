import type { JetStreamManager } from '@nats-io/jetstream';
import type { IngestConfig } from '../../shared/config.ts';
import type { Db } from '../../shared/db/prisma.ts';
import { readBrokerDuplicates } from '../../shared/nats/counters.ts';
import { deadLetterStreamName } from '../../shared/nats/topology.ts';
import { withSeedGroups, type StatsReply } from '../../shared/stats-reply.ts';

/** Latency percentiles are over the most recent events (bounded work per /stats call). */
const LATENCY_SAMPLE = 10_000;
const THROUGHPUT_WINDOW_S = 10;

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * /stats, assembled only from state that survives every process: counters committed with the rows
 * (PostgreSQL) and JetStream's own stream, consumer and counter state. Any ingest replica answers
 * the same, before and after restarts.
 */
export async function collectStats(db: Db, jsm: JetStreamManager, config: IngestConfig): Promise<StatsReply> {
  const [counters, [rowCount], [latency], [recent], stream, consumer, brokerDups, dlq] = await Promise.all([
    db.topicCounter.findMany({ orderBy: { topic: 'asc' } }),
    db.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM processed_events`,
    db.$queryRaw<Array<{ p50: number | null; p95: number | null; p99: number | null; avg: number | null; n: bigint }>>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95,
             percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
             avg(ms)::float8 AS avg, count(*) AS n
      FROM (SELECT extract(epoch FROM persisted_at - received_at)::float8 * 1000 AS ms
            FROM processed_events ORDER BY stream_seq DESC LIMIT ${LATENCY_SAMPLE}) recent`,
    db.$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM processed_events
      WHERE persisted_at > now() - make_interval(secs => ${THROUGHPUT_WINDOW_S})`,
    jsm.streams.info(config.STREAM_NAME),
    jsm.consumers.info(config.STREAM_NAME, config.CONSUMER_NAME),
    readBrokerDuplicates(jsm, config.STREAM_NAME),
    jsm.streams.info(deadLetterStreamName(config.STREAM_NAME)),
  ]);

  const topics = new Map<string, { unique_processed: number; duplicates_db: number; duplicates_broker: number }>();
  const topicEntry = (t: string) => {
    let e = topics.get(t);
    if (!e) topics.set(t, (e = { unique_processed: 0, duplicates_db: 0, duplicates_broker: 0 }));
    return e;
  };
  let unique = 0;
  let dbDup = 0;
  for (const c of counters) {
    const e = topicEntry(c.topic);
    e.unique_processed = Number(c.uniqueProcessed);
    e.duplicates_db = Number(c.duplicatesDropped);
    unique += e.unique_processed;
    dbDup += e.duplicates_db;
  }
  let brokerDup = 0;
  for (const [topic, n] of brokerDups) {
    topicEntry(topic).duplicates_broker = n;
    brokerDup += n;
  }
  // Every accepted event either got a stream sequence or was a broker duplicate.
  const received = stream.state.last_seq + brokerDup;
  const duplicates = brokerDup + dbDup;
  const queueDepth = consumer.num_pending + consumer.num_ack_pending;

  return withSeedGroups({
    received,
    unique_processed: unique,
    duplicate_dropped: duplicates,
    duplicate_rate_percent: received === 0 ? 0 : round((duplicates / received) * 100),
    duplicates_by_layer: { broker: brokerDup, database: dbDup },
    throughput_eps: round(Number(recent?.n ?? 0) / THROUGHPUT_WINDOW_S, 1),
    avg_latency_ms: round(latency?.avg ?? 0),
    latency_ms: {
      description: `accepted at ingest → committed in PostgreSQL, last ${LATENCY_SAMPLE} events`,
      p50: round(latency?.p50 ?? 0),
      p95: round(latency?.p95 ?? 0),
      p99: round(latency?.p99 ?? 0),
      sample: Number(latency?.n ?? 0),
    },
    database_rows: Number(rowCount?.n ?? 0),
    queue_depth: queueDepth,
    queue: { pending: consumer.num_pending, ack_pending: consumer.num_ack_pending, stream_messages: stream.state.messages },
    dead_lettered: dlq.state.last_seq,
    topics: Object.fromEntries([...topics].sort(([a], [b]) => (a < b ? -1 : 1))),
    uptime_seconds: round(process.uptime(), 1),
  });
}
