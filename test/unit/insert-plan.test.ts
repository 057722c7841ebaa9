import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../shared/decode.ts';
import { rowsToInsert } from '../../apps/consumer/insert-plan.ts';

const d = (seq: number, topic: string, id: string): Delivery => ({
  seq,
  event: { topic, event_id: id },
  receivedAt: new Date(0),
  json: '',
});

describe('rowsToInsert', () => {
  it('keeps one delivery per (topic, event_id), the earliest sequence, sorted by key', () => {
    const rows = rowsToInsert([d(9, 'b', '1'), d(3, 'a', '2'), d(7, 'a', '1'), d(2, 'a', '1'), d(4, 'b', '1')]);
    expect(rows.map((r) => [r.event.topic, r.event.event_id, r.seq])).toEqual([
      ['a', '1', 2],
      ['a', '2', 3],
      ['b', '1', 4],
    ]);
  });

  it('picks the same rows whatever order the deliveries came in', () => {
    const a = [d(1, 'x', 'b'), d(2, 'x', 'a'), d(3, 'w', 'z')];
    expect(rowsToInsert(a).map((r) => r.seq)).toEqual(rowsToInsert([...a].reverse()).map((r) => r.seq));
  });
});
