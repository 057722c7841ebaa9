// `npm run bench` flags, parsed and checked once so every other module gets numbers and lists.
import { parseArgs } from 'node:util';
import { DEFAULT_MODES } from './modes.ts';

export interface BenchOptions {
  runs: number;
  events: number;
  /** Mode specs as given (`batched`, `single+NAME=VALUE`), in order. */
  modes: string[];
  out: string;
  profile?: string;
  nodeFlags: string[];
  statsTopics: number;
  prefill: number;
  reads: number;
  /** Git refs whose builds run every mode (except floor) as well, taking turns with this tree's. */
  against: string[];
  /** PostgreSQL server settings for every PostgreSQL of the invocation (--pg-setting NAME=VALUE). */
  pgSettings: Record<string, string>;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      // 5, not the minimum of 3: this VM's speed swings enough that a median of 3 moves by ~10%.
      runs: { type: 'string', default: '5' },
      events: { type: 'string', default: '20000' },
      // Comma-separated; `single+NAME=VALUE` is an A/B variant with that setting for both apps.
      modes: { type: 'string', default: DEFAULT_MODES },
      out: { type: 'string', default: 'bench/RESULTS.md' },
      // Writes V8 CPU profiles of ingest and consumer here (open in Chrome DevTools / speedscope), and
      // nats-server's pprof CPU profile of the run's first NATS_PROFILE_SECONDS (`go tool pprof -top`).
      profile: { type: 'string' },
      // Extra Node/V8 flags for ingest and consumer (space-separated), to A/B a runtime setting.
      'node-flags': { type: 'string', default: '' },
      // GET /stats latency is measured once with this many topics (0 skips it).
      'stats-topics': { type: 'string', default: '10000' },
      // Rows stored before the runs: each run is made on an empty table and on one of this many rows
      // (0: empty only). The results go to their own block of --out.
      prefill: { type: 'string', default: '0' },
      // After each run, this many GET /events (first page, one topic) and GET /stats, one at a time
      // and again READ_CONCURRENCY at a time (0 skips them).
      reads: { type: 'string', default: '0' },
      // A commit (any git ref) built in a worktree of its own; repeatable.
      against: { type: 'string', multiple: true, default: [] },
      // A PostgreSQL server setting for every PostgreSQL the invocation starts, empty and filled
      // alike (e.g. shared_buffers=3GB, to size its memory as docs/sizing.md says); repeatable.
      'pg-setting': { type: 'string', multiple: true, default: [] },
    },
  });
  const count = (flag: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
  const modes = v.modes.split(',').filter(Boolean);
  if (modes.length === 0) throw new Error('--modes names no mode');
  const opts: BenchOptions = {
    runs: count('runs', v.runs, 1),
    events: count('events', v.events, 1),
    modes,
    out: v.out,
    profile: v.profile,
    nodeFlags: v['node-flags'].split(' ').filter(Boolean),
    statsTopics: count('stats-topics', v['stats-topics'], 0),
    prefill: count('prefill', v.prefill, 0),
    reads: count('reads', v.reads, 0),
    against: v.against,
    pgSettings: Object.fromEntries(
      v['pg-setting'].map((s) => {
        const m = /^([a-z_]+)=([\w.]+)$/.exec(s);
        if (!m) throw new Error(`--pg-setting must be NAME=VALUE (letters, digits, "_" and "."), got "${s}"`);
        return [m[1]!, m[2]!];
      }),
    ),
  };
  // The filled database is migrated once, with this tree's schema; another commit's may differ.
  if (opts.prefill > 0 && opts.against.length > 0) throw new Error('--prefill and --against cannot be combined');
  for (const ref of opts.against) {
    // The ref becomes part of mode names (`batched@REF`), which also name profile files and
    // `+NAME=VALUE` variants split on '+'.
    if (!/^[\w.~^/-]+$/.test(ref)) throw new Error(`--against ${ref}: use a ref made of letters, digits and . _ ~ ^ / -`);
  }
  return opts;
}
