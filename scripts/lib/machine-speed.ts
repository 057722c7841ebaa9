// The benchmark VM's speed is not constant: 200,000 of the round trips below took anywhere from
// 370 to 590 ms within one idle minute (2026-11-27), more than the effect of most levers. Each
// bench run therefore records how long a fixed piece of CPU work took just before it, so a slow
// run can be told apart from a slow machine.

const SAMPLE = {
  topic: 'orders',
  event_id: 'e-0001',
  timestamp: '2026-01-01T00:00:00.000Z',
  source: 'bench',
  payload: { n: 1, tags: ['a', 'b'], note: 'calibration' },
};

function once(iterations: number): number {
  const started = performance.now();
  let sink = 0;
  for (let i = 0; i < iterations; i++) sink += (JSON.parse(JSON.stringify(SAMPLE)) as typeof SAMPLE).event_id.length;
  if (sink < 0) throw new Error('unreachable');
  return performance.now() - started;
}

/** Milliseconds for 100,000 JSON round trips of one event (median of three; lower = faster). */
export function machineSpeedMs(): number {
  once(20_000); // warm-up: let the JIT settle so the samples time the machine, not the compiler
  const samples = [once(100_000), once(100_000), once(100_000)].sort((a, b) => a - b);
  return Math.round(samples[1]!);
}
