// `npm run bench`: the end-to-end benchmark. For each mode, N fresh stacks (throwaway NATS and
// PostgreSQL, ingest, consumer, all on this machine), the standard workload (20,000 events, 30%
// duplicates), and: accepted events/s at ingest, first request → last event committed, request
// and accept→commit latency percentiles, peak RSS, CPU and context switches per process, exact
// final counts. Prints one JSON line per mode and writes bench/RESULTS.md. With `--prefill N`,
// every run is made twice, on an empty table and on one already holding N rows, and the ratio is
// reported; with `--against REF`, every mode also runs on REF's build (`batched@REF`), and the
// ratio of server CPU per event is reported. The parts live in scripts/bench/.
import os from 'node:os';
import { buildRef, type RefBuild } from './bench/against.ts';
import { atRef, modeNamed, type Mode } from './bench/modes.ts';
import { parseBenchArgs } from './bench/options.ts';
import { startFilled } from './bench/prefilled.ts';
import { prefillLines } from './bench/prefill-report.ts';
import { jsonLines, resultLines, type ModeRuns, type ReportInput } from './bench/report.ts';
import { BLOCKS, writeBlock } from './bench/results-file.ts';
import { runOnce } from './bench/run.ts';
import { alternatingTurns } from './bench/schedule.ts';
import { statsLatency } from './bench/stats-latency.ts';

const opts = parseBenchArgs(process.argv.slice(2));
const modes = opts.modes.map(modeNamed);
// Built before any run: a build takes minutes and would otherwise fall between two measured runs.
const refs: RefBuild[] = opts.against.map((ref) => buildRef(process.cwd(), ref));
const buildOf = new Map(refs.map((b) => [b.ref, b]));

const summaries: ModeRuns[] = [];
const summaryOf = (mode: Mode) => {
  const s: ModeRuns = { mode, runs: [], filledRuns: [] };
  summaries.push(s);
  return s;
};
// Every mode, then its counterparts on the other commits' builds, as one group taking turns.
const groups = modes.map((mode) => {
  const others = refs.map((b) => atRef(mode, b.ref)).filter((m): m is Mode => m !== undefined);
  return [mode, ...others].map((m) => ({ summary: summaryOf(m), onFilled: false }));
});
// Listed in the report with the modes first, their counterparts after them.
summaries.sort((a, b) => Number(Boolean(a.mode.ref)) - Number(Boolean(b.mode.ref)));

const loadAtStart = os.loadavg();
const filled = opts.prefill > 0 ? await startFilled(opts.prefill, opts.pgSettings) : undefined;
const sides = filled ? groups.map(([side]) => [side!, { ...side!, onFilled: true }]) : groups;
try {
  for (const { round, side } of alternatingTurns(opts.runs, sides)) {
    const { mode, runs, filledRuns } = side.summary;
    const r = await runOnce(mode, {
      events: opts.events,
      seed: 1000 + round,
      profile: opts.profile,
      nodeFlags: opts.nodeFlags,
      reads: opts.reads,
      filled: side.onFilled ? filled : undefined,
      measureIo: Boolean(filled),
      build: mode.ref ? buildOf.get(mode.ref) : undefined,
      pgSettings: opts.pgSettings,
    });
    console.error(`[bench] ${mode.name} run ${round + 1}${side.onFilled ? ` at ${filled!.fill.rows} rows` : ''}: ${JSON.stringify(r)}`);
    (side.onFilled ? filledRuns : runs).push(r);
  }
} finally {
  await filled?.pg.remove();
}
const loadAtEnd = os.loadavg();

const statsCost = opts.statsTopics > 0 ? await statsLatency(opts.statsTopics) : undefined;
if (statsCost) console.error(`[bench] GET /stats with ${opts.statsTopics} topics: ${JSON.stringify(statsCost)}`);

const report: ReportInput = { opts, summaries, refs, filled, statsCost, loadAtStart, loadAtEnd };
for (const line of jsonLines(report)) console.log(line);
if (filled) writeBlock(opts.out, BLOCKS.prefill, prefillLines({ ...report, filled }));
else writeBlock(opts.out, BLOCKS.runs, resultLines(report));
console.error(`[bench] wrote ${opts.out}`);
