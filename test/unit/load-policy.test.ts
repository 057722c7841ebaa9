// The publisher policy shared by the k6 script and the Node client: k6 cannot run on this machine
// (see bench/RESULTS.md), so its retry and exactness rules are tested here, where both import them.
import { describe, expect, it } from 'vitest';
import { isRetryable, MAX_ATTEMPTS, retryDelayMs } from '../../load/retry-policy.ts';
import { checkCounts } from '../../load/count-check.ts';

describe('isRetryable', () => {
  it('retries network errors (0), 429 and 503, and nothing else', () => {
    expect([0, 429, 503].map(isRetryable)).toEqual([true, true, true]);
    expect([200, 202, 400, 401, 403, 404, 413, 415, 500, 502].map(isRetryable)).toEqual(Array(10).fill(false));
  });
});

describe('retryDelayMs', () => {
  it('grows exponentially with full jitter up to a 5 s cap', () => {
    const top = (attempt: number) => retryDelayMs(attempt, undefined, () => 0.999999);
    expect(top(1)).toBeCloseTo(200, 0);
    expect(top(3)).toBeCloseTo(800, 0);
    expect(top(6)).toBeCloseTo(5_000, 0);
    expect(top(MAX_ATTEMPTS)).toBeCloseTo(5_000, 0);
    expect(retryDelayMs(3, undefined, () => 0)).toBe(0);
  });

  it('spreads clients that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => Math.round(retryDelayMs(4, undefined))));
    expect(delays.size).toBeGreaterThan(40);
  });

  it('never waits less than the server asked with Retry-After (seconds)', () => {
    expect(retryDelayMs(1, '2', () => 0.5)).toBe(2_000);
    expect(retryDelayMs(1, 3, () => 0.5)).toBe(3_000);
    // A longer backoff wins over a short Retry-After; a nonsense header is ignored.
    expect(retryDelayMs(6, '1', () => 1)).toBe(5_000);
    expect(retryDelayMs(1, 'soon', () => 0.5)).toBe(100);
    expect(retryDelayMs(1, '-5', () => 0.5)).toBe(100);
  });
});

describe('checkCounts', () => {
  const expected = { unique: 14_000, duplicates: 6_000 };

  it('is exact only when every unique event is stored once and every re-send dropped', () => {
    expect(checkCounts({ unique: 14_000, duplicates: 6_000 }, expected, 0).exact).toBe(true);
    expect(checkCounts({ unique: 13_999, duplicates: 6_000 }, expected, 0).exact).toBe(false);
    expect(checkCounts({ unique: 14_001, duplicates: 6_000 }, expected, 0).exact).toBe(false);
    expect(checkCounts({ unique: 14_000, duplicates: 5_999 }, expected, 0).exact).toBe(false);
    expect(checkCounts({ unique: 14_000, duplicates: 6_001 }, expected, 0).exact).toBe(false);
  });

  it('allows extra duplicates up to the events that were re-sent by retries', () => {
    expect(checkCounts({ unique: 14_000, duplicates: 6_040 }, expected, 40).exact).toBe(true);
    expect(checkCounts({ unique: 14_000, duplicates: 6_041 }, expected, 40).exact).toBe(false);
  });

  it('checks duplicates from below only when the retries are unknown (k6 teardown)', () => {
    expect(checkCounts({ unique: 14_000, duplicates: 6_500 }, expected).exact).toBe(true);
    expect(checkCounts({ unique: 14_000, duplicates: 5_000 }, expected).exact).toBe(false);
  });

  it('says what it found and what it expected', () => {
    expect(checkCounts({ unique: 13_990, duplicates: 6_000 }, expected, 0).message).toBe(
      '13990 unique stored (expected 14000), 6000 duplicates dropped (expected 6000): NOT EXACT',
    );
  });
});
