// `npm run soak -- --seconds 600 --rate 3000`: a bounded soak. Holds a steady publish rate against a
// fresh local stack (throwaway NATS + PostgreSQL, compiled ingest and consumer), samples each
// process's RSS, then checks that every event was stored exactly once and that memory is flat:
// over the second half of the run each process's RSS grows by less than 5%. Exits non-zero on
// loss, inexact counts, or growth. Loopback only; stops by itself.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sendEvents, waitForStats } from '../load/client.ts';
import { generateWorkload } from '../load/workload.ts';
import { startLocalStack } from './lib/stack.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    rate: { type: 'string', default: '3000' },
    out: { type: 'string', default: 'bench/SOAK.md' },
  },
});
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

const stack = await startLocalStack({}, { exitOnSignal: true });
const consumer = await stack.start('consumer');
const ingest = await stack.start('ingest');
let code: number;
try {
  // One workload per second (its own seed, so ids never repeat across seconds): generating the
  // whole run up front would hold millions of events in the load generator.
  const slices = Array.from({ length: seconds }, (_, s) => s);
  const expected = { unique: 0, duplicates: 0 };
  const samples: Array<{ t: number; ingest: number; consumer: number }> = [];
  const t0 = performance.now();
  const perSecond = rate;
  let sent = 0;
  let failed = 0;
  const sampler = setInterval(
    () =>
      samples.push({
        t: Math.round((performance.now() - t0) / 1000),
        ingest: rssMiB(ingest.proc.pid!),
        consumer: rssMiB(consumer.proc.pid!),
      }),
    5_000,
  );
  // Pace in one-second slices: send the slice, then wait for the next second boundary.
  for (let s = 0; s < seconds; s++) {
    const slice = generateWorkload({ events: perSecond, duplicateRate: 0.3, seed: 99 + slices[s]! });
    expected.unique += slice.unique;
    expected.duplicates += slice.duplicates;
    const r = await sendEvents(slice.events, { baseUrl: ingest.url, batchSize: 100, concurrency: 8 });
    sent += slice.events.length;
    failed += r.failed;
    const wait = t0 + (s + 1) * 1000 - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const stats = await waitForStats(ingest.url, (x) => x.unique_processed >= expected.unique && x.queue_depth === 0, 120_000);
  // Flat, not merely bounded: compare the middle of the run with its end.
  const warm = samples.findLast((x) => x.t <= seconds / 2) ?? samples[0]!;
  const last = samples.at(-1)!;
  const growth = (a: number, b: number) => +(((b - a) / a) * 100).toFixed(1);
  const exact =
    failed === 0 &&
    stats.unique_processed === expected.unique &&
    stats.database_rows === expected.unique &&
    stats.duplicate_dropped === expected.duplicates;
  const bounded = growth(warm.ingest, last.ingest) < 5 && growth(warm.consumer, last.consumer) < 5;
  const nearest = (t: number) => samples.reduce((best, x) => (Math.abs(x.t - t) < Math.abs(best.t - t) ? x : best));
  const perMinute = Array.from({ length: Math.floor(seconds / 60) }, (_, m) => ({ ...nearest((m + 1) * 60), minute: m + 1 }));
  const result = {
    seconds: +elapsed.toFixed(1),
    target_rate: rate,
    held_rate: Math.round(sent / elapsed),
    events: sent,
    unique: stats.unique_processed,
    duplicates: stats.duplicate_dropped,
    lost: expected.unique - stats.database_rows,
    rss_mib: {
      ingest: { half: warm.ingest, end: last.ingest, max: Math.max(...samples.map((x) => x.ingest)) },
      consumer: { half: warm.consumer, end: last.consumer, max: Math.max(...samples.map((x) => x.consumer)) },
    },
    second_half_growth_percent: { ingest: growth(warm.ingest, last.ingest), consumer: growth(warm.consumer, last.consumer) },
    exact,
    memory_bounded: bounded,
  };
  console.log(JSON.stringify(result));
  writeFileSync(
    args.out,
    [
      '# Soak results',
      '',
      `\`npm run soak -- --seconds ${seconds} --rate ${rate}\` on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, everything on one machine.`,
      '',
      '| held rate (events/s) | events | unique stored | duplicates | lost | RSS ingest half→end (max) MiB | RSS consumer half→end (max) MiB | second-half growth ingest / consumer | exact | flat (< 5%) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${result.held_rate} | ${result.events} | ${result.unique} | ${result.duplicates} | ${result.lost} | ${warm.ingest}→${last.ingest} (${result.rss_mib.ingest.max}) | ${warm.consumer}→${last.consumer} (${result.rss_mib.consumer.max}) | ${result.second_half_growth_percent.ingest}% / ${result.second_half_growth_percent.consumer}% | ${exact ? 'yes' : 'NO'} | ${bounded ? 'yes' : 'NO'} |`,
      '',
      'RSS per minute (MiB):',
      '',
      '| minute | ingest | consumer |',
      '| --- | --- | --- |',
      ...perMinute.map((x) => `| ${x.minute} | ${x.ingest} | ${x.consumer} |`),
      '',
      'Every 5 s (t s: ingest / consumer MiB): ' + samples.map((x) => `${x.t}: ${x.ingest}/${x.consumer}`).join(', '),
      '',
    ].join('\n'),
  );
  code = exact && bounded && result.held_rate >= rate * 0.95 ? 0 : 1;
} finally {
  await stack.stop();
}
process.exit(code);
