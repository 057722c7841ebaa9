import { describe, expect, it } from 'vitest';
import { FreshSingleFlight } from '../../apps/ingest/fresh-single-flight.ts';

/** A computation that returns how many times it started, and finishes when told. */
function controlled() {
  let started = 0;
  const finishers: Array<() => void> = [];
  const flight = new FreshSingleFlight(async () => {
    const n = ++started;
    await new Promise<void>((resolve) => finishers.push(resolve));
    return n;
  });
  const finishNext = async () => {
    await new Promise((r) => setImmediate(r));
    finishers.shift()!();
  };
  return { flight, finishNext, started: () => started };
}

describe('FreshSingleFlight', () => {
  it('never answers a caller with a computation that started before it asked', async () => {
    const { flight, finishNext, started } = controlled();
    const first = flight.run();
    // These arrive while #1 runs: they must not get #1, and they share one next computation.
    const second = flight.run();
    const third = flight.run();
    expect(started()).toBe(1);
    await finishNext();
    expect(await first).toBe(1);
    await finishNext();
    expect(await second).toBe(2);
    expect(await third).toBe(2);
    expect(started()).toBe(2);
  });

  it('runs at most one computation at a time and starts afresh when idle', async () => {
    const { flight, finishNext, started } = controlled();
    const a = flight.run();
    await finishNext();
    await a;
    const b = flight.run();
    expect(started()).toBe(2);
    await finishNext();
    expect(await b).toBe(2);
  });

  it('lets a failure reach only its own callers', async () => {
    let calls = 0;
    const flight = new FreshSingleFlight(async () => {
      calls++;
      if (calls === 1) throw new Error('first failed');
      return calls;
    });
    const first = flight.run();
    const second = flight.run();
    await expect(first).rejects.toThrow('first failed');
    await expect(second).resolves.toBe(2);
  });
});
