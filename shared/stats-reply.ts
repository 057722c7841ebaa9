import { Type, type Static } from 'typebox';

// The GET /stats reply: the route's response schema and the one type every reader imports (tests,
// the Node client, the demo, the benchmark, the soak, the k6 script). The flat fields are ours; the
// three groups repeat some of them under the previous service's key names, so the previous service's clients keep working.

const Count = Type.Integer({ minimum: 0 });

export const TopicStats = Type.Object({
  unique_processed: Count,
  duplicates_db: Count,
  duplicates_broker: Count,
});

export const StatsReplySchema = Type.Object({
  received: Type.Integer({
    description:
      'events that reached JetStream (stream messages + broker duplicates): every event answered 202, and any stored before a 503',
  }),
  unique_processed: Count,
  duplicate_dropped: Count,
  duplicate_rate_percent: Type.Number(),
  duplicates_by_layer: Type.Object({ broker: Count, database: Count }),
  throughput_eps: Type.Number({ description: 'events committed per second over the last 10 s' }),
  avg_latency_ms: Type.Number(),
  latency_ms: Type.Object({
    description: Type.String(),
    p50: Type.Number(),
    p95: Type.Number(),
    p99: Type.Number(),
    sample: Count,
  }),
  database_rows: Count,
  queue_depth: Count,
  queue: Type.Object({ pending: Count, ack_pending: Count, stream_messages: Count }),
  dead_lettered: Type.Integer({
    minimum: 0,
    description: 'events ever dead-lettered (cumulative: replays and purges do not lower it; a replay counts again as received)',
  }),
  dead_letters_held: Type.Integer({ minimum: 0, description: 'messages in the dead-letter stream now (not yet replayed or purged)' }),
  topic_count: Type.Integer({ minimum: 0, description: 'topics with stored events; `topics` holds the busiest of them' }),
  topics: Type.Record(Type.String(), TopicStats, {
    description: 'the STATS_TOP_TOPICS busiest topics; GET /stats/topics pages through all',
  }),
  uptime_seconds: Type.Number(),
  // The previous service's groups, each field equal to the flat field of the same meaning.
  uptime_stats: Type.Object({ received_api: Count, unique_processed: Count, duplicate_dropped: Count }),
  performance_metrics: Type.Object({
    throughput_eps: Type.Number(),
    avg_latency_ms: Type.Number(),
    duplicate_rate_percent: Type.Number(),
    uptime_seconds: Type.Number(),
  }),
  system_state: Type.Object({ database_rows: Count, queue_depth: Count }),
});

export type StatsReply = Static<typeof StatsReplySchema>;
/** The flat fields of /stats (what ingest computes); the previous service's groups are derived from them. */
export type FlatStats = Omit<StatsReply, 'uptime_stats' | 'performance_metrics' | 'system_state'>;

/** Adds the previous service's three groups to the flat figures: computed once, so they can never disagree. */
export function withPreviousServiceGroups(s: FlatStats): StatsReply {
  return {
    ...s,
    uptime_stats: { received_api: s.received, unique_processed: s.unique_processed, duplicate_dropped: s.duplicate_dropped },
    performance_metrics: {
      throughput_eps: s.throughput_eps,
      avg_latency_ms: s.avg_latency_ms,
      duplicate_rate_percent: s.duplicate_rate_percent,
      uptime_seconds: s.uptime_seconds,
    },
    system_state: { database_rows: s.database_rows, queue_depth: s.queue_depth },
  };
}
