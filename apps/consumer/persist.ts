import type { Db } from '../../shared/db/prisma.ts';
import { countByTopic, rowsToInsert, type Delivery } from './decode.ts';

// PostgreSQL allows 32,767 bind parameters per statement; a row here binds 8.
const MAX_ROWS_PER_STATEMENT = 2_000;

export interface PersistOutcome {
  /** Rows this batch inserted (new events). */
  inserted: Delivery[];
  /** Deliveries the database rejected as duplicates, counted for the first time. */
  duplicates: number;
  /** Deliveries of messages committed earlier (their ack was lost): neither new nor duplicates. */
  redeliveries: number;
}

/**
 * Persists a batch in one transaction: new events, the duplicate log, and the per-topic counters.
 * The caller acks only after this resolves, so a crash anywhere before the commit loses nothing
 * (the messages are redelivered) and a crash after it counts nothing twice:
 * - a redelivered message whose row is already there has the same stream sequence as that row;
 * - a redelivered duplicate is already in duplicate_events under its own stream sequence.
 */
export async function persistBatch(db: Db, deliveries: readonly Delivery[]): Promise<PersistOutcome> {
  const candidates = rowsToInsert(deliveries);
  return db.$transaction(async (tx) => {
    const insertedSeqs = new Set<number>();
    for (let i = 0; i < candidates.length; i += MAX_ROWS_PER_STATEMENT) {
      const chunk = candidates.slice(i, i + MAX_ROWS_PER_STATEMENT);
      const rows = await tx.processedEvent.createManyAndReturn({
        data: chunk.map((d) => ({
          topic: d.event.topic,
          eventId: d.event.event_id,
          timestamp: new Date(d.event.timestamp),
          source: d.event.source ?? null,
          payload: d.event.payload === undefined || d.event.payload === null ? undefined : (d.event.payload as object),
          streamSeq: BigInt(d.seq),
          receivedAt: d.receivedAt,
        })),
        skipDuplicates: true,
        select: { streamSeq: true },
      });
      for (const r of rows) insertedSeqs.add(Number(r.streamSeq));
    }
    const inserted = candidates.filter((d) => insertedSeqs.has(d.seq));
    const rejected = deliveries.filter((d) => !insertedSeqs.has(d.seq));

    let redeliveries = 0;
    let newDuplicates: Array<{ topic: string }> = [];
    if (rejected.length > 0) {
      const seqs = rejected.map((d) => BigInt(d.seq));
      const alreadyStored = await tx.processedEvent.findMany({
        where: { streamSeq: { in: seqs } },
        select: { streamSeq: true },
      });
      const stored = new Set(alreadyStored.map((r) => Number(r.streamSeq)));
      redeliveries = stored.size;
      const duplicates = rejected.filter((d) => !stored.has(d.seq)).sort((a, b) => a.seq - b.seq);
      if (duplicates.length > 0) {
        newDuplicates = await tx.duplicateEvent.createManyAndReturn({
          data: duplicates.map((d) => ({
            streamSeq: BigInt(d.seq),
            topic: d.event.topic,
            eventId: d.event.event_id,
            receivedAt: d.receivedAt,
          })),
          skipDuplicates: true,
          select: { topic: true },
        });
      }
    }

    // Counter rows are hot: update them last (shortest lock hold) and in topic order (no deadlock).
    const uniques = new Map(countByTopic(inserted.map((d) => d.event.topic)));
    const dups = new Map(countByTopic(newDuplicates.map((d) => d.topic)));
    const topics = [...new Set([...uniques.keys(), ...dups.keys()])].sort();
    if (topics.length > 0) {
      await tx.$executeRaw`
        INSERT INTO topic_counters (topic, unique_processed, duplicates_dropped)
        SELECT * FROM unnest(${topics}::varchar[], ${topics.map((t) => uniques.get(t) ?? 0)}::bigint[],
                             ${topics.map((t) => dups.get(t) ?? 0)}::bigint[])
        ON CONFLICT (topic) DO UPDATE SET
          unique_processed = topic_counters.unique_processed + EXCLUDED.unique_processed,
          duplicates_dropped = topic_counters.duplicates_dropped + EXCLUDED.duplicates_dropped`;
    }
    return { inserted, duplicates: newDuplicates.length, redeliveries };
  });
}
