import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_BACKOFF } from '../../apps/consumer/dead-letter.ts';
import { OUTAGE_BACKOFF } from '../../apps/consumer/event-writer.ts';
import { IN_PROCESS_BACKOFF } from '../../apps/ingest/event-publisher.ts';
import { backoffDelayMs, logsAttempt, STARTUP_BACKOFF, withBackoff, type Backoff, type Clock } from '../../shared/retry.ts';

const delays = (schedule: Backoff, retries: number, random?: () => number) =>
  Array.from({ length: retries }, (_, i) => backoffDelayMs(i + 1, schedule, random));

/** A clock that only moves when the code under test sleeps, and records each sleep. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

const silent = pino({ level: 'silent' });

describe('retry schedules', () => {
  it('holds a batch through a PostgreSQL outage and retries dead-lettering at 200 ms doubling to 5 s', () => {
    const expected = [200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000];
    expect(delays(OUTAGE_BACKOFF, 8)).toEqual(expected);
    expect(delays(DEAD_LETTER_BACKOFF, 8)).toEqual(expected);
  });

  it('asks again for an in-process duplicate at 10 ms doubling to 250 ms', () => {
    expect(delays(IN_PROCESS_BACKOFF, 7)).toEqual([10, 20, 40, 80, 160, 250, 250]);
  });

  it('never overflows to Infinity or NaN however long a loop retries', () => {
    expect(backoffDelayMs(10_000, OUTAGE_BACKOFF)).toBe(5_000);
    expect(backoffDelayMs(10_000, { initialMs: 0, maxMs: 5_000 })).toBe(0);
  });

  it('draws a start-up delay between half and all of the doubled delay', () => {
    expect(delays(STARTUP_BACKOFF, 7, () => 0)).toEqual([100, 200, 400, 800, 1_600, 2_500, 2_500]);
    expect(delays(STARTUP_BACKOFF, 7, () => 1)).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(backoffDelayMs(2, STARTUP_BACKOFF, () => 0.5)).toBe(300);
  });

  it('logs the first failure and every 10th', () => {
    expect(Array.from({ length: 30 }, (_, i) => i + 1).filter(logsAttempt)).toEqual([1, 10, 20, 30]);
  });
});

describe('withBackoff', () => {
  it('retries on the start-up schedule until the call succeeds', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await withBackoff(() => (++calls < 4 ? Promise.reject(new Error('not yet')) : Promise.resolve('up')), {
      what: 'connect',
      log: silent,
      timeoutMs: 60_000,
      clock,
      random: () => 1,
    });
    expect(result).toBe('up');
    expect(clock.slept).toEqual([200, 400, 800]);
  });

  it('rethrows the last error once the next wait would pass the deadline', async () => {
    const clock = fakeClock();
    let calls = 0;
    const failing = () => Promise.reject(new Error(`refused ${++calls}`));
    await expect(withBackoff(failing, { what: 'connect', log: silent, timeoutMs: 3_000, clock, random: () => 1 })).rejects.toThrow(
      'refused 5',
    );
    // 200 + 400 + 800 + 1600 = 3000 ms slept; the next 3200 ms would pass the deadline.
    expect(clock.slept).toEqual([200, 400, 800, 1_600]);
  });

  it('stops at once when its signal is aborted', async () => {
    const clock = fakeClock();
    const abort = new AbortController();
    abort.abort();
    await expect(
      withBackoff(() => Promise.reject(new Error('down')), {
        what: 'connect',
        log: silent,
        timeoutMs: 60_000,
        signal: abort.signal,
        clock,
      }),
    ).rejects.toThrow('down');
    expect(clock.slept).toEqual([]);
  });
});
