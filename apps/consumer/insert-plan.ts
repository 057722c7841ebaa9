import type { Delivery } from '../../shared/decode.ts';

const compareKeys = (a: Delivery, b: Delivery) =>
  a.event.topic < b.event.topic
    ? -1
    : a.event.topic > b.event.topic
      ? 1
      : a.event.event_id < b.event.event_id
        ? -1
        : a.event.event_id > b.event.event_id
          ? 1
          : a.seq - b.seq;

/**
 * The rows one batch may insert: one per (topic, event_id), the earliest stream sequence winning.
 * Sorting puts a key's deliveries next to each other, earliest first, so one pass keeps the first.
 * The lock order that keeps concurrent batches from deadlocking is persist.sql's (its inserts are
 * ordered by (topic, event_id)), not this sort's.
 */
export function rowsToInsert(deliveries: readonly Delivery[]): Delivery[] {
  const sorted = [...deliveries].sort(compareKeys);
  return sorted.filter((d, i) => {
    const prev = sorted[i - 1];
    return !prev || prev.event.topic !== d.event.topic || prev.event.event_id !== d.event.event_id;
  });
}
