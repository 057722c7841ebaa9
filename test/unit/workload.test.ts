import { describe, expect, it } from 'vitest';
import { generateWorkload, workloadCounts } from '../../load/workload.ts';
import { validateEvent } from './event-errors.ts';

describe('generateWorkload', () => {
  const w = generateWorkload({ events: 20_000, duplicateRate: 0.3, seed: 42 });
  const key = (e: { topic: string; event_id: string }) => `${e.topic}:${e.event_id}`;

  it('has exactly the requested uniques and duplicates', () => {
    expect(w.events).toHaveLength(20_000);
    expect(new Set(w.events.map(key)).size).toBe(14_000);
    expect(w).toMatchObject({ unique: 14_000, duplicates: 6_000 });
  });

  it('counts what it generates without generating it (the k6 script relies on that)', () => {
    for (const [events, duplicateRate] of [
      [20_000, 0.3],
      [7, 0.5],
      [1, 0.9],
      [0, 0.3],
      [1_001, 0],
    ] as const) {
      const g = generateWorkload({ events, duplicateRate, seed: 1 });
      expect(workloadCounts({ events, duplicateRate })).toEqual({ unique: g.unique, duplicates: g.duplicates });
      expect(g.events).toHaveLength(g.unique + g.duplicates);
    }
  });

  it('sends every duplicate after its original, spread through the run', () => {
    const firstIndex = new Map<string, number>();
    let dupsInFirstHalf = 0;
    w.events.forEach((e, i) => {
      const first = firstIndex.get(key(e));
      if (first === undefined) firstIndex.set(key(e), i);
      else {
        // A re-send is the same event as its original, sent later.
        expect(e).toBe(w.events[first]);
        if (i < 10_000) dupsInFirstHalf++;
      }
    });
    expect(dupsInFirstHalf).toBeGreaterThan(500);
    expect(dupsInFirstHalf).toBeLessThan(5_500);
  });

  it('is deterministic for a seed and different across seeds', () => {
    const again = generateWorkload({ events: 20_000, duplicateRate: 0.3, seed: 42 });
    expect(again.events.map(key)).toEqual(w.events.map(key));
    const other = generateWorkload({ events: 100, duplicateRate: 0.3, seed: 43 });
    expect(other.events.map(key)).not.toEqual(w.events.slice(0, 100).map(key));
  });

  it('produces only valid events', () => {
    expect(w.events.slice(0, 500).flatMap((e) => validateEvent(e))).toEqual([]);
  });
});
