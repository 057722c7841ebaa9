// `npm run soak -- --seconds 120 --rate 4000`: a bounded soak. Holds a steady publish rate against a
// fresh local stack (throwaway NATS + PostgreSQL, compiled ingest and consumer), samples each
// process's RSS, then checks that every event was stored exactly once and memory did not keep
// growing. Exits non-zero on loss, inexact counts, or unbounded growth. Loopback only; stops by itself.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sendEvents, waitForStats } from '../load/client.ts';
import { generateWorkload } from '../load/workload.ts';
import { startLocalStack } from './lib/services.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '4000' },
    out: { type: 'string', default: 'bench/SOAK.md' },
  },
});
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

const stack = await startLocalStack({}, { exitOnSignal: true });
const consumer = await stack.start('consumer');
const ingest = await stack.start('ingest');
let code = 1;
try {
  const total = seconds * rate;
  const w = generateWorkload({ events: total, duplicateRate: 0.3, seed: 99 });
  const samples: Array<{ t: number; ingest: number; consumer: number }> = [];
  const t0 = performance.now();
  const perSecond = rate;
  let sent = 0;
  let failed = 0;
  const sampler = setInterval(() => samples.push({ t: Math.round((performance.now() - t0) / 1000), ingest: rssMiB(ingest.proc.pid!), consumer: rssMiB(consumer.proc.pid!) }), 5_000);
  // Pace in one-second slices: send the slice, then wait for the next second boundary.
  for (let s = 0; s < seconds; s++) {
    const slice = w.events.slice(s * perSecond, (s + 1) * perSecond);
    const r = await sendEvents(slice, { baseUrl: ingest.url, batchSize: 100, concurrency: 8 });
    sent += slice.length;
    failed += r.failed;
    const wait = t0 + (s + 1) * 1000 - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const stats = await waitForStats(ingest.url, (x) => x.unique_processed >= w.unique && x.queue_depth === 0, 120_000);
  const warm = samples[Math.min(samples.length - 1, Math.max(1, Math.floor(samples.length / 5)))]!;
  const last = samples.at(-1)!;
  const grew = (a: number, b: number) => b > Math.max(a * 1.3, a + 48);
  const exact = failed === 0 && stats.unique_processed === w.unique && stats.database_rows === w.unique && stats.duplicate_dropped === w.duplicates;
  const bounded = !grew(warm.ingest, last.ingest) && !grew(warm.consumer, last.consumer);
  const result = {
    seconds: +elapsed.toFixed(1),
    target_rate: rate,
    held_rate: Math.round(sent / elapsed),
    events: sent,
    unique: stats.unique_processed,
    duplicates: stats.duplicate_dropped,
    lost: w.unique - stats.database_rows,
    rss_mib: { ingest: { warm: warm.ingest, end: last.ingest, max: Math.max(...samples.map((x) => x.ingest)) }, consumer: { warm: warm.consumer, end: last.consumer, max: Math.max(...samples.map((x) => x.consumer)) } },
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
      '| held rate (events/s) | events | unique stored | duplicates | lost | RSS ingest warm→end (max) MiB | RSS consumer warm→end (max) MiB | exact | memory bounded |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${result.held_rate} | ${result.events} | ${result.unique} | ${result.duplicates} | ${result.lost} | ${warm.ingest}→${last.ingest} (${result.rss_mib.ingest.max}) | ${warm.consumer}→${last.consumer} (${result.rss_mib.consumer.max}) | ${exact ? 'yes' : 'NO'} | ${bounded ? 'yes' : 'NO'} |`,
      '',
      'RSS samples every 5 s (t s: ingest / consumer MiB): ' + samples.map((x) => `${x.t}: ${x.ingest}/${x.consumer}`).join(', '),
      '',
    ].join('\n'),
  );
  code = exact && bounded && result.held_rate >= rate * 0.95 ? 0 : 1;
} finally {
  await stack.stop();
}
process.exit(code);
