import { describe, expect, it } from 'vitest';
import { pollUntil } from '../../load/poll.ts';

describe('pollUntil', () => {
  it('returns the first value done accepts, treating a throwing probe as not yet', async () => {
    let calls = 0;
    const value = await pollUntil(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not listening yet');
        return calls;
      },
      (n) => n >= 4,
      { what: 'counter', timeoutMs: 5_000, intervalMs: 1 },
    );
    expect(value).toBe(4);
  });

  it('times out naming what it waited for and the last value it saw', async () => {
    await expect(
      pollUntil(
        async () => ({ depth: 7 }),
        (s) => s.depth === 0,
        { what: 'queue drained', timeoutMs: 30, intervalMs: 5 },
      ),
    ).rejects.toThrow(/queue drained: not within 30 ms; last: \{"depth":7\}/);
  });

  it('gives up at once when abortIf has a reason', async () => {
    await expect(
      pollUntil(async () => false, Boolean, { what: 'ingest', timeoutMs: 60_000, abortIf: () => 'exited with code 1' }),
    ).rejects.toThrow('ingest: exited with code 1');
  });
});
