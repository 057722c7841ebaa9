import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// One registry per app instance (not prom-client's global), so tests can build several apps in one
// process. Metric names are part of the operator contract: the Grafana dashboard reads them.

function registryFor(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function createIngestMetrics() {
  const registry = registryFor('ingest');
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    accepted: new Counter({ name: 'ingest_events_accepted_total', help: 'Events acknowledged by JetStream (202)', registers: [registry] }),
    brokerDuplicates: new Counter({
      name: 'ingest_events_broker_duplicate_total',
      help: 'Events JetStream already had within its dedup window (PubAck duplicate)',
      registers: [registry],
    }),
    rejected: new Counter({ name: 'ingest_events_rejected_total', help: 'Events refused as invalid (422)', registers: [registry] }),
    publishFailures: new Counter({
      name: 'ingest_publish_failures_total',
      help: 'Requests answered 503 because JetStream was unavailable or slow (a full buffer is not counted here)',
      registers: [registry],
    }),
    unavailable: new Counter({
      name: 'ingest_unavailable_responses_total',
      help: 'Requests answered 503 + Retry-After, by reason: buffer_full, broker_unavailable, reads_busy, body_budget, dependency',
      labelNames: ['reason'],
      registers: [registry],
    }),
    topicsRefused: new Counter({
      name: 'ingest_topic_limit_refusals_total',
      help: 'Requests refused (422) because they introduced a topic past MAX_TOPICS',
      registers: [registry],
    }),
    knownTopics: new Gauge({
      name: 'ingest_known_topics',
      help: 'Distinct topics this replica knows of (stored in PostgreSQL, or accepted here); MAX_TOPICS bounds it',
      registers: [registry],
    }),
    inProcessRetries: new Counter({
      name: 'ingest_publish_in_process_retries_total',
      help: 'Publishes asked again because JetStream had their Nats-Msg-Id in process (clustered streams, 10158)',
      registers: [registry],
    }),
    publishDuration: new Histogram({
      name: 'ingest_publish_duration_seconds',
      help: "Time from publishing a request's events to the last PubAck",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

export function createConsumerMetrics() {
  const registry = registryFor('consumer');
  return {
    registry,
    persisted: new Counter({ name: 'consumer_events_persisted_total', help: 'New rows committed', registers: [registry] }),
    dbDuplicates: new Counter({
      name: 'consumer_events_db_duplicate_total',
      help: 'Deliveries the database rejected as duplicates (UNIQUE(topic, event_id))',
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: 'consumer_redeliveries_total',
      help: 'Deliveries already committed earlier (ack lost, e.g. crash after commit); not duplicates',
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'consumer_events_dead_lettered_total',
      help: 'Messages sent to the dead-letter subject',
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'consumer_batch_duration_seconds',
      help: 'Time to persist and commit one batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'consumer_batch_size',
      help: 'Messages per persisted batch',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    acceptToCommit: new Histogram({
      name: 'consumer_accept_to_commit_seconds',
      help: 'From the PubAck at ingest to the commit in PostgreSQL, per new event',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'consumer_pending_messages',
      help: 'Messages in the stream not yet delivered to any consumer process',
      registers: [registry],
    }),
    ackPending: new Gauge({
      name: 'consumer_ack_pending_messages',
      help: 'Messages delivered but not yet acknowledged',
      registers: [registry],
    }),
    dbUp: new Gauge({ name: 'consumer_database_up', help: '1 when the last database operation succeeded', registers: [registry] }),
    // Checked once at start (apps/consumer/database-behind.ts): PostgreSQL restored behind NATS.
    ackedNotStored: new Gauge({
      name: 'consumer_acked_sequences_not_stored',
      help: 'At start: stream sequences the durable consumer acknowledged that neither PostgreSQL nor the dead-letter stream can account for (a database restored behind NATS); 0 when none',
      registers: [registry],
    }),
    // Retention (apps/consumer/retention.ts). Only the replica holding the purge lock deletes: sum
    // the counter over replicas. The gauges are read from PostgreSQL by every replica at the purge
    // interval, the same figure on each: aggregate with max().
    rowsPurged: new Counter({
      name: 'consumer_retention_rows_purged_total',
      help: 'Rows deleted by the retention purge, by table (processed_events, duplicate_events)',
      labelNames: ['table'],
      registers: [registry],
    }),
    retentionLag: new Gauge({
      name: 'consumer_retention_lag_seconds',
      help: 'How far the oldest stored event is past EVENTS_RETENTION_MS (0 when none is, or retention is off)',
      registers: [registry],
    }),
    tableBytes: new Gauge({
      name: 'postgres_table_size_bytes',
      help: 'pg_total_relation_size of the table (rows, indexes, TOAST), refreshed at the purge interval',
      labelNames: ['table'],
      registers: [registry],
    }),
    indexBytes: new Gauge({
      name: 'postgres_index_size_bytes',
      help: 'pg_relation_size of the index (the UNIQUE(topic, event_id) index), refreshed at the purge interval',
      labelNames: ['index'],
      registers: [registry],
    }),
    sharedBuffersBytes: new Gauge({
      name: 'postgres_shared_buffers_bytes',
      help: "PostgreSQL's shared_buffers setting, refreshed at the purge interval",
      registers: [registry],
    }),
    // The JetStream side, from stream info (no message-read rights needed). Every consumer replica
    // reports the same figures: aggregate with max().
    bufferBytes: new Gauge({
      name: 'jetstream_buffer_bytes',
      help: 'Bytes in the event stream (events accepted, not yet stored)',
      registers: [registry],
    }),
    bufferMaxBytes: new Gauge({
      name: 'jetstream_buffer_max_bytes',
      help: 'Byte cap of the event stream (STREAM_MAX_BYTES)',
      registers: [registry],
    }),
    bufferMessages: new Gauge({ name: 'jetstream_buffer_messages', help: 'Events in the event stream', registers: [registry] }),
    bufferOldestAge: new Gauge({
      name: 'jetstream_buffer_oldest_age_seconds',
      help: 'Age of the oldest event accepted but not yet stored in PostgreSQL (0 when none)',
      registers: [registry],
    }),
    deadLetterMessages: new Gauge({
      name: 'jetstream_dead_letter_messages',
      help: 'Messages in the dead-letter stream',
      registers: [registry],
    }),
    deadLetterBytes: new Gauge({ name: 'jetstream_dead_letter_bytes', help: 'Bytes in the dead-letter stream', registers: [registry] }),
    deadLetterMaxBytes: new Gauge({
      name: 'jetstream_dead_letter_max_bytes',
      help: 'Byte cap of the dead-letter stream (DLQ_MAX_BYTES)',
      registers: [registry],
    }),
    counterStreamMessages: new Gauge({
      name: 'jetstream_counter_stream_messages',
      help: 'Messages in the broker-duplicate counter stream (one per topic + the total)',
      registers: [registry],
    }),
    counterStreamBytes: new Gauge({ name: 'jetstream_counter_stream_bytes', help: 'Bytes in the counter stream', registers: [registry] }),
  };
}
export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;
