// What an invocation prints and writes: one JSON line per mode on stdout, and the Markdown block of
// bench/RESULTS.md (tables of medians, CPU and context switches per event, every run in order, and
// with --against, each mode's ratio to the same mode on the other commit). The --prefill block is
// in prefill-report.ts.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findBinary } from '../lib/binaries.ts';
import type { RefBuild } from './against.ts';
import type { Mode } from './modes.ts';
import type { BenchOptions } from './options.ts';
import type { Filled } from './prefilled.ts';
import type { RunResult } from './run.ts';
import { fmtSpread, median, ratios, spread } from './stats.ts';
import { serverMicrosPerEvent, type PerPart } from './usage.ts';

export interface ModeRuns {
  mode: Mode;
  /** In the order they ran (on the empty table with --prefill). */
  runs: RunResult[];
  /** With --prefill: the runs on the filled table, run i made next to runs[i]. */
  filledRuns: RunResult[];
}

export interface ReportInput {
  opts: BenchOptions;
  summaries: ModeRuns[];
  refs: RefBuild[];
  filled?: Filled;
  statsCost?: { p50: number; p95: number; bytes: number };
  loadAtStart: number[];
  loadAtEnd: number[];
}

export const of = (runs: RunResult[], f: (r: RunResult) => number) => spread(runs.map(f));
const eventsPerSecond = (runs: RunResult[]) => of(runs, (r) => r.e2e_events_per_s).median;
const serverUs = (r: RunResult) => serverMicrosPerEvent(r.cpu_s, r.events);

/** Each mode run on another commit's build next to the same mode on this tree. */
export function abPairs(summaries: ModeRuns[]): Array<{ here: ModeRuns; there: ModeRuns }> {
  return summaries.flatMap((there) => {
    if (!there.mode.ref) return [];
    const base = there.mode.name.slice(0, -`@${there.mode.ref}`.length);
    const here = summaries.find((s) => s.mode.name === base);
    return here ? [{ here, there }] : [];
  });
}

/** The stdout lines: one JSON object per mode (the batched one last, as the headline), then the A/B ratios. */
export function jsonLines({ summaries, filled }: ReportInput): string[] {
  const perEvent = summaries.find((s) => s.mode.name === 'per-event');
  const perEventEps = perEvent ? eventsPerSecond(perEvent.runs) : undefined;
  const headlineLast = [...summaries].sort((a, b) => Number(a.mode.name === 'batched') - Number(b.mode.name === 'batched'));
  const lines = headlineLast.map(({ mode, runs }) => {
    const eps = eventsPerSecond(runs);
    return JSON.stringify({
      events: runs[0]!.events,
      unique: runs[0]!.unique,
      e2e_seconds: of(runs, (r) => r.e2e_seconds).median,
      e2e_events_per_s: eps,
      per_event_e2e_events_per_s: perEventEps ?? null,
      speedup: perEventEps ? +(eps / perEventEps).toFixed(2) : null,
      mode: mode.name,
      exact_all_runs: runs.every((r) => r.exact),
    });
  });
  for (const { here, there } of abPairs(summaries)) {
    const cpu = ratios(here.runs.map(serverUs), there.runs.map(serverUs));
    lines.push(
      JSON.stringify({
        mode: here.mode.name,
        against: there.mode.ref,
        server_us_per_event: Math.round(median(here.runs.map(serverUs))),
        against_server_us_per_event: Math.round(median(there.runs.map(serverUs))),
        server_cpu_ratio: +cpu.ofMedians.toFixed(3),
        server_cpu_ratio_per_pair: +cpu.perPair.median.toFixed(3),
        e2e_seconds_ratio: +ratios(
          here.runs.map((r) => r.e2e_seconds),
          there.runs.map((r) => r.e2e_seconds),
        ).ofMedians.toFixed(3),
        exact_all_runs: [...here.runs, ...there.runs].every((r) => r.exact),
      }),
    );
  }
  for (const { mode, runs, filledRuns } of filled ? summaries : []) {
    lines.push(
      JSON.stringify({
        mode: mode.name,
        prefilled_rows: filled!.fill.rows,
        empty_e2e_events_per_s: eventsPerSecond(runs),
        filled_e2e_events_per_s: eventsPerSecond(filledRuns),
        filled_over_empty: +(eventsPerSecond(filledRuns) / eventsPerSecond(runs)).toFixed(2),
        exact_all_runs: [...runs, ...filledRuns].every((r) => r.exact),
      }),
    );
  }
  return lines;
}

export const versionOf = (bin: string) => {
  try {
    return execFileSync(findBinary(bin), ['--version'], { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return `${bin} (version unknown)`;
  }
};

export const machine = () =>
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/** The A/B block: each mode's server CPU per event and e2e time on this tree and on each commit. */
function abLines({ summaries, refs }: ReportInput): string[] {
  const pairs = abPairs(summaries);
  if (pairs.length === 0) return [];
  const us = (rs: RunResult[]) => Math.round(median(rs.map(serverUs)));
  const e2e = (rs: RunResult[]) => median(rs.map((r) => r.e2e_seconds)).toFixed(2);
  const r3 = (x: number) => x.toFixed(3);
  return [
    `A/B against other commits (\`--against\`): each mode on this tree and on the commit's build (its own apps, migrations and nats-server; a fresh NATS and PostgreSQL for every run), runs of the two next to each other, which one goes first rotating every round. Ratio = this tree ÷ the commit: below 1 is less server CPU per event, or a shorter e2e time. Per pair: the ratio of the two runs made next to each other (median, min–max), which cancels most of this VM's drift.`,
    '',
    ...refs.map((b) => `- \`@${b.ref}\`: ${b.summary}; ${b.natsVersion}`),
    '',
    '| mode | server µs/event here / there | ratio (medians) | ratio per pair | e2e s here / there | e2e ratio per pair | exact |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...pairs.map(({ here, there }) => {
      const cpu = ratios(here.runs.map(serverUs), there.runs.map(serverUs));
      const time = ratios(
        here.runs.map((r) => r.e2e_seconds),
        there.runs.map((r) => r.e2e_seconds),
      );
      const exact = [...here.runs, ...there.runs].every((r) => r.exact) ? 'yes' : 'NO';
      return `| ${here.mode.name} vs ${there.mode.name} | ${us(here.runs)} / ${us(there.runs)} | **${r3(cpu.ofMedians)}** | ${fmtSpread(cpu.perPair, 3)} | ${e2e(here.runs)} / ${e2e(there.runs)} | ${fmtSpread(time.perPair, 3)} | ${exact} |`;
    }),
    '',
  ];
}

/** The block of an invocation without --prefill. */
export function resultLines(input: ReportInput): string[] {
  const { opts, summaries, statsCost } = input;
  const perEvent = summaries.find((s) => s.mode.name === 'per-event');
  const batched = summaries.find((s) => s.mode.name === 'batched');
  const perPart = (runs: RunResult[], f: (r: RunResult) => PerPart, k: (c: PerPart) => number, scale: number) =>
    median(runs.map((r) => (k(f(r)) / r.events) * scale));
  return [
    `Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}, ${versionOf('nats-server')}, ${versionOf('postgres')}; load generator, ingest, consumer, NATS and PostgreSQL all on this one machine.`,
    `Workload: ${opts.events} events, 30% duplicates, ${opts.runs} runs per mode (median, min–max).`,
    '',
    '| mode | e2e s | e2e events/s | accepted events/s | request p50/p95/p99 ms | accept→commit p50/p95/p99 ms | peak RSS ingest/consumer MiB | exact | machine ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summaries.map(({ mode, runs }) => {
      const m = (f: (r: RunResult) => number) => median(runs.map(f));
      return `| ${mode.name}: ${mode.description} | ${fmtSpread(of(runs, (r) => r.e2e_seconds))} | ${fmtSpread(
        of(runs, (r) => r.e2e_events_per_s),
        0,
      )} | ${m((r) => r.accept_events_per_s)} | ${m((r) => r.request_ms.p50)} / ${m((r) => r.request_ms.p95)} / ${m((r) => r.request_ms.p99)} | ${m((r) => r.commit_ms.p50)} / ${m((r) => r.commit_ms.p95)} / ${m((r) => r.commit_ms.p99)} | ${m((r) => r.rss_mib.ingest)} / ${m((r) => r.rss_mib.consumer)} | ${runs.every((r) => r.exact) ? 'yes' : 'NO'} | ${fmtSpread(
        of(runs, (r) => r.machine_ms),
        0,
      )} |`;
    }),
    '',
    'CPU per event (µs of CPU time over the whole run ÷ events sent, median of the runs): where the cores went, independent of how',
    'fast the VM was at the time. The server is ingest + NATS + consumer + PostgreSQL; the load generator is this process.',
    '',
    '| mode | server µs/event | ingest | NATS | consumer | PostgreSQL | load generator |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...summaries.map(({ mode, runs }) => {
      const us = (k: (c: PerPart) => number) => Math.round(perPart(runs, (r) => r.cpu_s, k, 1e6));
      const server = us((c) => c.ingest + c.nats + c.consumer + c.postgres);
      return `| ${mode.name} | **${server}** | ${us((c) => c.ingest)} | ${us((c) => c.nats)} | ${us((c) => c.consumer)} | ${us((c) => c.postgres)} | ${us((c) => c.load_generator)} |`;
    }),
    '',
    'Context switches per event (all threads; median of the runs): each is a thread that slept and was woken, what a',
    'message passed one at a time costs every process it crosses.',
    '',
    '| mode | server switches/event | ingest | NATS | consumer | PostgreSQL | load generator |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...summaries.map(({ mode, runs }) => {
      const per = (k: (c: PerPart) => number) => perPart(runs, (r) => r.switches, k, 1).toFixed(2);
      const server = per((c) => c.ingest + c.nats + c.consumer + c.postgres);
      return `| ${mode.name} | **${server}** | ${per((c) => c.ingest)} | ${per((c) => c.nats)} | ${per((c) => c.consumer)} | ${per((c) => c.postgres)} | ${per((c) => c.load_generator)} |`;
    }),
    '',
    ...abLines(input),
    'Every run, in order (e2e seconds @ machine ms):',
    '',
    ...summaries.map(
      ({ mode, runs }) => `- ${mode.name}: ${runs.map((r) => `${r.e2e_seconds.toFixed(2)} s @ ${r.machine_ms}`).join(', ')}`,
    ),
    '',
    '*machine ms*: a fixed single-threaded CPU task (100,000 JSON round trips of one event) timed just before each run; lower is faster. It shows how fast this shared VM was at the time: on the same day it ranged over ±25% within a minute, idle.',
    '',
    statsCost
      ? `GET /stats with ${opts.statsTopics} topics (50 sequential calls over HTTP): p50 ${statsCost.p50} ms, p95 ${statsCost.p95} ms, ${statsCost.bytes} bytes.`
      : '',
    '',
    perEvent && batched
      ? `Speedup of batched over the one-transaction-per-event \`per-event\` mode, same run: **${(eventsPerSecond(batched.runs) / eventsPerSecond(perEvent.runs)).toFixed(2)}x**.`
      : '',
    '',
  ];
}
