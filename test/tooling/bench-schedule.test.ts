import { describe, expect, it } from 'vitest';
import { alternatingTurns } from '../../scripts/bench/schedule.ts';
import { median, ratios } from '../../scripts/bench/stats.ts';

describe('bench run order (scripts/bench/schedule.ts)', () => {
  it('runs every mode once per round, never two runs of one mode in a row across modes', () => {
    const order = alternatingTurns(2, [['batched'], ['single'], ['per-event']]).map((t) => `${t.round}:${t.side}`);
    expect(order).toEqual(['0:batched', '0:single', '0:per-event', '1:batched', '1:single', '1:per-event']);
  });

  it('puts a mode next to its counterpart on the other commit, which one goes first alternating by round', () => {
    const order = alternatingTurns(3, [
      ['batched', 'batched@main'],
      ['single', 'single@main'],
    ]).map((t) => t.side);
    expect(order).toEqual([
      ...['batched', 'batched@main', 'single', 'single@main'],
      ...['batched@main', 'batched', 'single@main', 'single'],
      ...['batched', 'batched@main', 'single', 'single@main'],
    ]);
  });

  it('rotates three sides so each goes first once every three rounds, and runs each side once per round', () => {
    const turns = alternatingTurns(3, [['a', 'a@x', 'a@y']]);
    const firsts = [0, 1, 2].map((r) => turns.find((t) => t.round === r)!.side);
    expect(firsts).toEqual(['a', 'a@x', 'a@y']);
    for (const r of [0, 1, 2])
      expect(
        turns
          .filter((t) => t.round === r)
          .map((t) => t.side)
          .sort(),
      ).toEqual(['a', 'a@x', 'a@y']);
  });
});

describe('bench ratios (scripts/bench/stats.ts)', () => {
  it('takes the upper median, as the report always has', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(() => median([])).toThrow(RangeError);
  });

  it('gives the ratio of the medians and the ratios of runs made next to each other', () => {
    // Server µs/event of this tree and of the commit, run i of each made in the same round.
    const r = ratios([100, 150, 90], [200, 150, 100]);
    expect(r.ofMedians).toBeCloseTo(100 / 150, 10);
    expect(r.perPair.median).toBeCloseTo(0.9, 10);
    expect(r.perPair.min).toBeCloseTo(0.5, 10);
    expect(r.perPair.max).toBeCloseTo(1, 10);
  });

  it('pairs only the rounds both sides finished, and refuses a side without runs', () => {
    expect(ratios([1, 2, 3], [2, 4]).perPair).toEqual({ median: 0.5, min: 0.5, max: 0.5 });
    expect(() => ratios([], [1])).toThrow(RangeError);
  });
});
