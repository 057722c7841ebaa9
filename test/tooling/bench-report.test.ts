import { describe, expect, it } from 'vitest';
import { atRef, modeNamed } from '../../scripts/bench/modes.ts';
import { parseBenchArgs } from '../../scripts/bench/options.ts';
import { abPairs, jsonLines, type ModeRuns, type ReportInput } from '../../scripts/bench/report.ts';
import { BLOCKS, withBlock } from '../../scripts/bench/results-file.ts';
import type { RunResult } from '../../scripts/bench/run.ts';

/** A run of `events` events whose four server parts used `serverSeconds` CPU in total. */
const run = (serverSeconds: number, e2e: number, events = 1000): RunResult => {
  const part = serverSeconds / 4;
  const parts = { ingest: part, consumer: part, nats: part, postgres: part, load_generator: 9 };
  return {
    events,
    unique: 700,
    duplicates: 300,
    accept_seconds: e2e / 2,
    accept_events_per_s: Math.round(events / (e2e / 2)),
    e2e_seconds: e2e,
    e2e_events_per_s: Math.round(events / e2e),
    request_ms: { p50: 1, p95: 2, p99: 3 },
    commit_ms: { p50: 1, p95: 2, p99: 3 },
    rss_mib: { ingest: 100, consumer: 100 },
    cpu_s: parts,
    switches: parts,
    exact: true,
    machine_ms: 300,
    counter_messages: null,
    prefilled_rows: 0,
  };
};

const input = (summaries: ModeRuns[]): ReportInput => ({
  opts: parseBenchArgs(['--against', 'main']),
  summaries,
  refs: [],
  loadAtStart: [0, 0, 0],
  loadAtEnd: [0, 0, 0],
});

describe('bench report (scripts/bench/report.ts)', () => {
  const batched = modeNamed('batched');
  const here: ModeRuns = { mode: batched, runs: [run(0.1, 1), run(0.3, 2), run(0.2, 1.5)], filledRuns: [] };
  const there: ModeRuns = { mode: atRef(batched, 'main')!, runs: [run(0.2, 1), run(0.3, 1), run(0.4, 3)], filledRuns: [] };
  const single: ModeRuns = { mode: modeNamed('single'), runs: [run(1, 5)], filledRuns: [] };

  it('pairs each mode on another commit with the same mode on this tree, and nothing else', () => {
    const pairs = abPairs([here, single, there]);
    expect(pairs).toHaveLength(1);
    expect(pairs[0]!.here.mode.name).toBe('batched');
    expect(pairs[0]!.there.mode.name).toBe('batched@main');
  });

  it('reports server CPU per event on both sides and their ratio, this tree over the commit', () => {
    const ab = jsonLines(input([here, single, there]))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((o) => o.against === 'main');
    // Medians: 200 µs/event here, 300 there; per pair 0.5, 1, 0.5 → 0.5.
    expect(ab).toMatchObject({
      mode: 'batched',
      server_us_per_event: 200,
      against_server_us_per_event: 300,
      server_cpu_ratio: 0.667,
      server_cpu_ratio_per_pair: 0.5,
      e2e_seconds_ratio: 1.5,
      exact_all_runs: true,
    });
  });
});

describe('bench results file (scripts/bench/results-file.ts)', () => {
  const { begin, end } = BLOCKS.runs;

  it('replaces only its own block, keeping the notes around it', () => {
    const doc = `# notes\n${begin}\nold\n${end}\nmore notes\n`;
    expect(withBlock(doc, BLOCKS.runs, ['new', 'lines'])).toBe(`# notes\n${begin}\nnew\nlines\n${end}\nmore notes\n`);
  });

  it('appends the block to a file without it, on a line of its own', () => {
    expect(withBlock('# notes', BLOCKS.runs, ['x'])).toBe(`# notes\n${begin}\nx\n${end}\n`);
    expect(withBlock('', BLOCKS.prefill, ['x'])).toBe(`${BLOCKS.prefill.begin}\nx\n${BLOCKS.prefill.end}\n`);
  });
});
