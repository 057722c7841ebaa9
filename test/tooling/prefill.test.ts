import { describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '../../load/workload.ts';
import { fillChunks, topicCounts } from '../../scripts/lib/prefill.ts';

describe('prefill topicCounts', () => {
  it('spreads rows over the topics evenly, the first topics taking the remainder', () => {
    expect([...topicCounts(12, ['a', 'b', 'c', 'd', 'e']).values()]).toEqual([3, 3, 2, 2, 2]);
    expect([...topicCounts(3, ['a', 'b', 'c', 'd', 'e']).values()]).toEqual([1, 1, 1, 0, 0]);
  });

  it('counts exactly as many rows as asked for, the workload topics by default', () => {
    for (const rows of [0, 1, 4, 10_000, 10_000_003, 30_000_000]) {
      const counts = topicCounts(rows, DEFAULT_TOPICS);
      expect([...counts.keys()]).toEqual([...DEFAULT_TOPICS]);
      expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(rows);
    }
  });

  it('matches the SQL rule: row i (1-based) goes to topics[(i - 1) % topics]', () => {
    const topics = ['x', 'y', 'z'];
    const byRule = new Map(topics.map((t) => [t, 0]));
    for (let i = 1; i <= 1_001; i++) byRule.set(topics[(i - 1) % topics.length]!, byRule.get(topics[(i - 1) % topics.length]!)! + 1);
    expect(topicCounts(1_001, topics)).toEqual(byRule);
  });

  it('refuses what it cannot fill', () => {
    expect(() => topicCounts(-1, DEFAULT_TOPICS)).toThrow(RangeError);
    expect(() => topicCounts(1.5, DEFAULT_TOPICS)).toThrow(RangeError);
    expect(() => topicCounts(10, [])).toThrow(RangeError);
  });
});

describe('prefill fillChunks', () => {
  it('covers 1..rows in order, without gaps or overlaps, no chunk larger than asked', () => {
    expect(fillChunks(10, 4)).toEqual([
      [1, 4],
      [5, 8],
      [9, 10],
    ]);
    expect(fillChunks(8, 4)).toEqual([
      [1, 4],
      [5, 8],
    ]);
    expect(fillChunks(0, 4)).toEqual([]);
    const chunks = fillChunks(30_000_000, 1_000_000);
    expect(chunks).toHaveLength(30);
    chunks.forEach(([from, to], k) => {
      expect(from).toBe(k * 1_000_000 + 1);
      expect(to - from + 1).toBe(1_000_000);
    });
  });

  it('refuses an empty chunk', () => {
    expect(() => fillChunks(10, 0)).toThrow(RangeError);
  });
});
