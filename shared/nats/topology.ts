import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { ConsumerAppConfig } from '../config.ts';
import type { Log } from '../logger.ts';
import { SUBJECT_PREFIX } from '../event.ts';

// Names derived from STREAM_NAME, so one installation's streams never collide by name. Two
// installations still cannot share a NATS account: the event subjects are fixed at `events.>`, so
// a second install's event stream would overlap the first's subjects.
export const counterStreamName = (stream: string) => `${stream}_COUNTERS`;
export const deadLetterStreamName = (stream: string) => `${stream}_DLQ`;
export const brokerDuplicateSubject = (stream: string, topic: string) => `counters.${stream}.broker_duplicates.${topic}`;
export const brokerDuplicateTotalSubject = (stream: string) => `counters.${stream}.broker_duplicates_total`;
export const deadLetterSubject = (stream: string, topic: string) => `dlq.${stream}.${topic}`;
/** The consumer's reply subjects (its pulled messages arrive there); ingest uses the default _INBOX. */
export const CONSUMER_INBOX_PREFIX = '_INBOX_consumer';

const isNotFound = (err: unknown) => /not found/i.test(String((err as Error)?.message));

/** Says which variables to change when nats-server cannot reserve a stream's byte cap. */
async function withStorageHint<T>(op: Promise<T>, config: ConsumerAppConfig): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STORAGE_RESOURCES_EXCEEDED)) throw err;
    throw new Error(
      `nats-server cannot reserve STREAM_MAX_BYTES (${config.STREAM_MAX_BYTES}) + DLQ_MAX_BYTES (${config.DLQ_MAX_BYTES}) ` +
        `in its JetStream file store (max_file_store): lower them or give JetStream more storage`,
      { cause: err },
    );
  }
}

/** Creates the stream if it is missing (true) or brings its settings up to date (false). */
async function ensureStream(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig> & { name: string },
  creationOnly: () => Promise<Partial<StreamConfig>> = async () => ({}),
): Promise<boolean> {
  try {
    await jsm.streams.info(cfg.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add({ ...cfg, ...(await creationOnly()) });
      return true;
    } catch (addErr) {
      // Another replica created it between our info and add: fall through to update.
      if (!/already in use|exists/i.test(String((addErr as Error).message))) throw addErr;
    }
  }
  const { allow_msg_counter: _immutable, ...updatable } = cfg;
  await jsm.streams.update(cfg.name, updatable);
  return false;
}

/** The durable pull consumer every consumer process shares. */
export function writerConsumerConfig(config: ConsumerAppConfig): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: config.CONSUMER_NAME,
    // Explicit per-message acks: AckAll on a shared pull consumer would ack other processes' messages.
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(config.CONSUMER_ACK_WAIT_MS),
    max_deliver: config.CONSUMER_MAX_DELIVER,
    max_ack_pending: config.CONSUMER_MAX_ACK_PENDING,
    // No ack-wait backoff (empty, which also removes one from an existing durable): with one,
    // nats-server (2.12.15, measured) adds backoff[n] - ack_wait to every nak delay, and the
    // worker's retry schedule for refused messages (0.5 s, 1 s, 2 s...) would become 0.5 s, 31 s,
    // 92 s... with the defaults. Messages held by a crashed consumer come back after ack_wait.
    backoff: [],
    filter_subject: `${SUBJECT_PREFIX}.>`,
  };
}

/** nats-server's "insufficient storage resources": a stream's max_bytes does not fit its max_file_store. */
const STORAGE_RESOURCES_EXCEEDED = 10047;

/**
 * The event stream as a bounded buffer between ingest and PostgreSQL:
 * - work-queue retention: a message leaves the stream once the consumer acked it, i.e. after its
 *   row (or its duplicate record) committed, or after it was copied to the dead-letter stream and
 *   terminated. JetStream is not a second archive of what PostgreSQL holds. (Interest retention
 *   would not do: nats-server acknowledges a publish to an interest stream that has no consumer
 *   yet without storing it, and ingest may publish before the durable exists.)
 * - discard New at max_bytes: when the buffer is full JetStream refuses the publish, so ingest
 *   answers 503 and nothing stored is ever pushed out. No max_age, for the same reason.
 */
export function eventStreamConfig(config: ConsumerAppConfig): Partial<StreamConfig> & { name: string } {
  return {
    name: config.STREAM_NAME,
    subjects: [`${SUBJECT_PREFIX}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Workqueue,
    discard: DiscardPolicy.New,
    num_replicas: config.STREAM_REPLICAS,
    duplicate_window: nanos(config.STREAM_DUPLICATE_WINDOW_MS),
    max_age: 0,
    max_bytes: config.STREAM_MAX_BYTES,
  };
}

/**
 * Creates or updates the event stream, the broker-duplicate counter stream, the dead-letter
 * stream and the shared durable consumer. Idempotent: every consumer process runs it at start.
 * Only the consumer does (ingest needs the streams but not the rights to create them, nor the
 * database their first sequence comes from); its NATS user is the only app identity allowed to
 * create or update them, and nothing in the apps may delete or purge them.
 * `firstSequence` is asked only when the event stream has to be created: a stream recreated
 * under a database that already holds events must continue after the sequences stored there
 * (apps/consumer/stream-sequence.ts).
 */
export async function ensureTopology(
  jsm: JetStreamManager,
  config: ConsumerAppConfig,
  firstSequence: () => Promise<number>,
  log: Log,
): Promise<void> {
  const stream = config.STREAM_NAME;
  let firstSeq = 1;
  const events = eventStreamConfig(config);
  const legacy = await jsm.streams.info(stream).then(
    (info) => info.config.retention !== RetentionPolicy.Workqueue,
    (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    },
  );
  let created = false;
  if (legacy) {
    // nats-server refuses to change a stream's retention to or from work-queue. A stream made by a
    // release before the buffer keeps its settings untouched (an update to discard New on a
    // limits stream would fill it for good); docs/operations.md says how to convert it.
    log.error(
      { stream },
      'the event stream uses limits retention (created before the bounded buffer): it keeps every event and is not bounded; convert it as docs/operations.md says',
    );
  } else {
    created = await withStorageHint(
      ensureStream(jsm, events, async () => {
        firstSeq = await firstSequence();
        return firstSeq > 1 ? { first_seq: firstSeq } : {};
      }),
      config,
    );
  }
  // Distributed counters (nats-server 2.12, ADR-49): ingest adds the duplicates the broker caught,
  // per topic; the sum survives restarts of every process and is the same from every replica.
  // A counter's last message holds its whole value, so one message per subject is all it needs:
  // the stream is bounded by the number of topics (MAX_TOPICS) + 1. Counter streams cannot use
  // discard New, and a byte cap with discard Old would delete counters.
  await ensureStream(jsm, {
    name: counterStreamName(stream),
    subjects: [`counters.${stream}.>`],
    storage: StorageType.File,
    num_replicas: config.STREAM_REPLICAS,
    allow_msg_counter: true,
    allow_direct: true,
    max_msgs_per_subject: 1,
  });
  // Dead letters wait for an operator: nothing in them expires. At the cap a new dead letter is
  // refused, the dead-letterer retries (holding its batch), and the buffer fills behind it: ingest
  // then answers 503. Alerts fire well before (charts/.../files/prometheus-rules.yaml).
  await withStorageHint(
    ensureStream(jsm, {
      name: deadLetterStreamName(stream),
      subjects: [`dlq.${stream}.>`],
      storage: StorageType.File,
      num_replicas: config.STREAM_REPLICAS,
      discard: DiscardPolicy.New,
      max_age: 0,
      max_bytes: config.DLQ_MAX_BYTES,
    }),
    config,
  );
  const consumer = writerConsumerConfig(config);
  try {
    await jsm.consumers.info(stream, consumer.durable_name);
    const { durable_name, deliver_policy: _fixed, filter_subject: _f, ...updatable } = consumer;
    await jsm.consumers.update(stream, durable_name, updatable);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, consumer);
  }
  if (created && firstSeq > 1) {
    // Whatever the lost stream held but the database had not stored yet is gone with it; say so.
    log.warn(
      { stream, first_seq: firstSeq },
      'event stream was missing while the database holds events: recreated it after the highest stored sequence; events accepted but not yet stored when it was lost cannot be recovered',
    );
  } else if (created) {
    log.info({ stream }, 'event stream created');
  }
}
