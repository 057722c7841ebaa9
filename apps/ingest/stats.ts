import type { JetStreamManager } from '@nats-io/jetstream';
import type { IngestConfig } from '../../shared/config.ts';
import type { Db } from '../../shared/db/prisma.ts';
import { readBrokerDuplicates, readBrokerDuplicateTotal } from './broker-duplicates.ts';
import { deadLetterStreamName } from '../../shared/nats/topology.ts';
import { withPreviousServiceGroups, type StatsReply } from '../../shared/stats-reply.ts';

/** Latency percentiles are over the most recent events (bounded work per /stats call). */
const LATENCY_SAMPLE = 1_000;
const THROUGHPUT_WINDOW_S = 10;

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * /stats, assembled only from state that survives every process: counters committed with the rows
 * (PostgreSQL) and JetStream's own stream, consumer and counter state. Any ingest replica answers
 * the same, before and after restarts. Its cost does not grow with the number of topics: 3 queries
 * and 5 NATS requests, the topics in the reply bounded to the `topTopics` busiest (GET /stats/topics
 * pages through all of them).
 */
export async function collectStats(db: Db, jsm: JetStreamManager, config: IngestConfig): Promise<StatsReply> {
  const [top, [latency], [recent], stream, consumer, brokerDup, dlq] = await Promise.all([
    // Totals over every topic ride along the top N rows as window aggregates: one statement. The
    // counters stay cumulative under retention; the rows the table holds are their total minus the
    // rows purged, both in this statement's one snapshot (each is committed with the rows it
    // counts), so exact without a count(*) scan.
    db.$queryRaw<Array<{ topic: string; u: bigint; d: bigint; topics: bigint; total_u: bigint; total_d: bigint; purged: bigint }>>`
      SELECT topic, unique_processed AS u, duplicates_dropped AS d, count(*) OVER () AS topics,
             (sum(unique_processed) OVER ())::bigint AS total_u, (sum(duplicates_dropped) OVER ())::bigint AS total_d,
             (SELECT processed_events FROM purged_rows WHERE id) AS purged
      FROM topic_counters ORDER BY unique_processed + duplicates_dropped DESC, topic LIMIT ${config.STATS_TOP_TOPICS}`,
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
    readBrokerDuplicateTotal(jsm, config.STREAM_NAME),
    jsm.streams.info(deadLetterStreamName(config.STREAM_NAME)),
  ]);
  const brokerByTopic = await readBrokerDuplicates(
    jsm,
    config.STREAM_NAME,
    top.map((t) => t.topic),
  );

  const unique = Number(top[0]?.total_u ?? 0);
  const dbDup = Number(top[0]?.total_d ?? 0);
  // Every accepted event either got a stream sequence or was a broker duplicate.
  const received = stream.state.last_seq + brokerDup;
  const duplicates = brokerDup + dbDup;
  const queueDepth = consumer.num_pending + consumer.num_ack_pending;

  return withPreviousServiceGroups({
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
    database_rows: unique - Number(top[0]?.purged ?? 0),
    queue_depth: queueDepth,
    queue: { pending: consumer.num_pending, ack_pending: consumer.num_ack_pending, stream_messages: stream.state.messages },
    // Cumulative: the dead-letter stream's last sequence, which replays and purges never lower
    // (a replay is a new received event, stored or counted as a duplicate), so received = unique +
    // duplicates + queue + dead_lettered holds throughout. What it holds now is dead_letters_held.
    dead_lettered: dlq.state.last_seq,
    dead_letters_held: dlq.state.messages,
    topic_count: Number(top[0]?.topics ?? 0),
    topics: Object.fromEntries(
      top.map((t) => [
        t.topic,
        { unique_processed: Number(t.u), duplicates_db: Number(t.d), duplicates_broker: brokerByTopic.get(t.topic) ?? 0 },
      ]),
    ),
    uptime_seconds: round(process.uptime(), 1),
  });
}
