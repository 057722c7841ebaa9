import { describe, expect, it } from 'vitest';
import { TopicLimit } from '../../apps/ingest/topic-limit.ts';

describe('TopicLimit', () => {
  it('admits new topics up to the limit, then refuses every new one of a request and admits none of them', () => {
    const limit = new TopicLimit(3);
    limit.learn(['a']);
    expect(limit.admit(['a', 'b', 'b'])).toEqual([]);
    expect(limit.admit(['c', 'd'])).toEqual(['c', 'd']);
    expect(limit.size).toBe(2);
    expect(limit.admit(['c'])).toEqual([]);
    expect(limit.admit(['a', 'b', 'c'])).toEqual([]);
    expect(limit.admit(['e'])).toEqual(['e']);
  });

  it('admits everything until the stored topics were read once, and counts what it admitted meanwhile', () => {
    const limit = new TopicLimit(2);
    expect(limit.admit(['a', 'b', 'c'])).toEqual([]);
    limit.learn(['a', 'x']);
    expect(limit.size).toBe(4);
    expect(limit.admit(['y'])).toEqual(['y']);
    expect(limit.admit(['x', 'c'])).toEqual([]);
  });
});
