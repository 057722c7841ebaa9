import type { JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerAppConfig } from '../../shared/config.ts';
import type { Log } from '../../shared/logger.ts';
import type { ConsumerMetrics } from '../../shared/metrics.ts';
import { deadLetterStreamName } from '../../shared/nats/topology.ts';

export interface StreamAndDatabase {
  /** The durable consumer's ack floor: every sequence up to it was acknowledged. */
  ackFloor: number;
  /** The highest stream sequence PostgreSQL accounts for (rows, duplicate records, purged high water). */
  databaseHigh: number;
  /** Messages in the dead-letter stream: acknowledged (terminated) without a row. */
  deadLetters: number;
}

/**
 * How many acknowledged sequences the database cannot account for: the consumer acks a message only
 * after its row (or duplicate record) committed, or after copying it to the dead-letter stream. So
 * an ack floor past the database's highest sequence by more than the dead letters means PostgreSQL
 * lost committed events that the work-queue stream then deleted: a database restored from a backup
 * older than NATS's state. Those events are gone from both. A lower bound (each dead letter is
 * assumed to lie in the gap); 0 when nothing is missing.
 */
export function ackedNotStored(s: StreamAndDatabase): number {
  return Math.max(0, s.ackFloor - s.databaseHigh - s.deadLetters);
}

/**
 * Run once per start, after the topology exists: logs an error and sets the gauge (read by the
 * PubsubDatabaseBehindStream alert) when the database is behind the stream. Stream and consumer info
 * only (no message-read rights). A failure here is logged and never stops the consumer.
 */
export async function checkDatabaseBehindStream(
  jsm: JetStreamManager,
  config: ConsumerAppConfig,
  databaseHigh: () => Promise<number>,
  metrics: ConsumerMetrics,
  log: Log,
): Promise<void> {
  try {
    const [consumer, deadLetters, high] = await Promise.all([
      jsm.consumers.info(config.STREAM_NAME, config.CONSUMER_NAME),
      jsm.streams.info(deadLetterStreamName(config.STREAM_NAME)),
      databaseHigh(),
    ]);
    const s = { ackFloor: consumer.ack_floor.stream_seq, databaseHigh: high, deadLetters: deadLetters.state.messages };
    const missing = ackedNotStored(s);
    metrics.ackedNotStored.set(missing);
    if (missing > 0) {
      log.error(
        { stream: config.STREAM_NAME, ack_floor: s.ackFloor, database_high: s.databaseHigh, dead_letters: s.deadLetters, missing },
        'the database is behind the event stream: NATS acknowledged (and deleted) at least this many events that PostgreSQL does not hold; was PostgreSQL restored from a backup while NATS was kept? They cannot be recovered from NATS: re-send them from the clients (docs/kubernetes.md, "Backup and restore")',
      );
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not compare the stream with the database at start');
  }
}
