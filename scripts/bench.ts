// `npm run bench`: the end-to-end benchmark. For each mode, N fresh stacks (throwaway NATS and
// PostgreSQL, ingest, consumer, all on this machine), the standard workload (20,000 events, 30%
// duplicates), and: accepted events/s at ingest, first request → last event committed, request
// and accept→commit latency percentiles, peak RSS, exact final counts. Prints one JSON line per
// mode and writes bench/RESULTS.md. With `--prefill N`, every run is made twice, on an empty table and
// on one already holding N rows (scripts/lib/prefill.ts), alternating, and the ratio is reported.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { counterStreamName } from '../shared/nats/topology.ts';
import pg from 'pg';
import { sendEvents } from '../load/client.ts';
import { checkCounts } from '../load/count-check.ts';
import { generateWorkload } from '../load/workload.ts';
import { machineSpeedMs } from './lib/machine-speed.ts';
import { pollUntil } from '../load/poll.ts';
import { sleep } from '../shared/retry.ts';
import { writeTopicCounters } from './lib/topic-counters.ts';
import { findBinary } from './lib/binaries.ts';
import { contextSwitches, cpuSeconds } from './lib/cpu.ts';
import { startLocalStack } from './lib/stack.ts';
import { NODE_FLAGS } from './lib/apps.ts';
import { freePort } from './lib/ports.ts';
import { migrate, startPostgres, type Postgres } from './lib/postgres.ts';
import { prefill, resetToPrefill, type Prefill } from './lib/prefill.ts';
import { DEFAULT_TOPICS } from '../load/workload.ts';

const { values: args } = parseArgs({
  options: {
    // 5, not the minimum of 3: this VM's speed swings enough that a median of 3 moves by ~10%.
    runs: { type: 'string', default: '5' },
    events: { type: 'string', default: '20000' },
    // Comma-separated; `single+NAME=VALUE` is an A/B variant with that setting for both apps.
    modes: { type: 'string', default: 'batched,batched-4,single,floor,baseline' },
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
  },
});

interface Mode {
  name: string;
  batchSize: number;
  concurrency: number;
  consumerEnv: Record<string, string>;
  /** Set for ingest (and, in consumerEnv, for the consumer) by an A/B variant (modeNamed). */
  appEnv?: Record<string, string>;
  /** Events go to scripts/lib/floor-server.ts instead of ingest (the consumer stores them as usual). */
  floor?: boolean;
  /** Request bodies are sent gzip-compressed. */
  gzip?: boolean;
  description: string;
}

const MODES: Record<string, Mode> = {
  batched: {
    name: 'batched',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: {},
    description: '100 events/request, 16 clients, batched consumer',
  },
  // The same batches from fewer clients: with 16 clients × 100 events in flight, Little's law puts
  // the mean request latency at 1,600 / throughput (~95 ms at 17k events/s), so request latency
  // is read here, at the same throughput with less queueing.
  'batched-4': {
    name: 'batched-4',
    batchSize: 100,
    concurrency: 4,
    consumerEnv: {},
    description: '100 events/request, 4 clients, batched consumer',
  },
  // The batched mode with every body gzip-compressed: what inflating costs ingest per event.
  'batched-gzip': {
    name: 'batched-gzip',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: {},
    gzip: true,
    description: '100 events/request gzip-compressed (Content-Encoding: gzip), 16 clients, batched consumer',
  },
  single: { name: 'single', batchSize: 1, concurrency: 16, consumerEnv: {}, description: '1 event/request, 16 clients, batched consumer' },
  // What the design costs before ingest does anything of its own (issue #14): the single mode with
  // ingest replaced by a bare node:http server that publishes each event with its Nats-Msg-Id and
  // answers after the PubAck. It does not count broker duplicates: exact means every row, counted once.
  floor: {
    name: 'floor',
    batchSize: 1,
    concurrency: 16,
    consumerEnv: {},
    floor: true,
    description: '1 event/request, 16 clients, ingest replaced by the bare floor server (scripts/lib/floor-server.ts)',
  },
  baseline: {
    name: 'baseline',
    batchSize: 100,
    concurrency: 16,
    consumerEnv: { PERSIST_MODE: 'per-event', CONSUMER_CONCURRENCY: '1' },
    description: '100 events/request, consumer writing one event per transaction (what the previous service did)',
  },
};

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peakRssMiB = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};

interface RunResult {
  events: number;
  unique: number;
  duplicates: number;
  accept_seconds: number;
  accept_events_per_s: number;
  e2e_seconds: number;
  e2e_events_per_s: number;
  request_ms: { p50: number; p95: number; p99: number };
  commit_ms: { p50: number; p95: number; p99: number };
  rss_mib: { ingest: number; consumer: number };
  /** CPU seconds each part used during the run: where the 2 cores went. */
  cpu_s: { ingest: number; consumer: number; nats: number; postgres: number; load_generator: number };
  /** Context switches of each part during the run (threads going to sleep and being woken). */
  switches: { ingest: number; consumer: number; nats: number; postgres: number; load_generator: number };
  exact: boolean;
  /** machineSpeedMs() just before the run: how fast this VM was at the time (lower = faster). */
  machine_ms: number;
  /** Broker-duplicate counter increments JetStream stored during the run (messages besides the events). */
  counter_messages: number;
  /** Rows stored before the run (--prefill), 0 on an empty table. */
  prefilled_rows: number;
  /**
   * With --prefill: WAL bytes written per event, and blocks each processed_events index read into
   * shared buffers per event (from the OS or the disk), over the run: where a bigger table costs.
   */
  io?: { wal_bytes_per_event: number; index_reads_per_event: Record<string, number> };
  /** Read latency once the run's events are stored (--reads). */
  reads?: Record<ReadKind, { p50: number; p95: number }>;
}

/** The database of the filled runs: started and filled once, reset after each run. */
interface Filled {
  pg: Postgres;
  fill: Prefill;
  /** Seconds a copy of the filled database took (CREATE DATABASE ... TEMPLATE): the alternative to the reset. */
  copySeconds: number;
  /** Seconds each reset to the filled state took (resetToPrefill). */
  resetSeconds: number[];
}

// Two at a time: one client's share of /events reads (EVENTS_MAX_CONCURRENT_PER_CLIENT); a third
// would be refused with 503 rather than measured.
const READ_CONCURRENCY = 2;
const READ_KINDS = ['events_1', `events_${READ_CONCURRENCY}`, 'stats_1', `stats_${READ_CONCURRENCY}`] as const;
type ReadKind = (typeof READ_KINDS)[number];

/** p50/p95 ms of `requests` GETs of `url` (after 5 unmeasured ones), `concurrency` at a time. */
async function readLatency(url: string, requests: number, concurrency: number): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  const get = async (measured: boolean) => {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    if (measured) times.push(performance.now() - t0);
  };
  for (let i = 0; i < 5; i++) await get(false);
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < requests) await get(true);
    }),
  );
  times.sort((a, b) => a - b);
  return { p50: +pct(times, 50).toFixed(1), p95: +pct(times, 95).toFixed(1) };
}

async function readsOf(ingestUrl: string, requests: number): Promise<RunResult['reads']> {
  const events = `${ingestUrl}/events?topic=${DEFAULT_TOPICS[0]}`;
  return {
    events_1: await readLatency(events, requests, 1),
    [`events_${READ_CONCURRENCY}`]: await readLatency(events, requests, READ_CONCURRENCY),
    stats_1: await readLatency(`${ingestUrl}/stats`, requests, 1),
    [`stats_${READ_CONCURRENCY}`]: await readLatency(`${ingestUrl}/stats`, requests, READ_CONCURRENCY),
  };
}

async function runOnce(mode: Mode, events: number, seed: number, filled?: Filled): Promise<RunResult> {
  const w = generateWorkload({ events, duplicateRate: 0.3, seed });
  const natsProfPort = args.profile ? await freePort() : undefined;
  const stack = await startLocalStack(args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${args.profile}` } : {}, {
    extraNodeFlags: args['node-flags'].split(' ').filter(Boolean),
    exitOnSignal: true,
    natsConfig: natsProfPort ? `prof_port: ${natsProfPort}\n` : undefined,
    postgres: filled?.pg,
  });
  const before = filled?.fill.rows ?? 0;
  const { nats, pg: db } = stack;
  const client = new pg.Client({ connectionString: db.url });
  let stopFloor: (() => void) | undefined;
  // Everything after the stack exists is inside the try: an app that fails to start must not
  // leave its NATS and PostgreSQL running.
  try {
    const consumer = await stack.start('consumer', mode.consumerEnv);
    const ingest = await stack.start('ingest', mode.appEnv);
    // In the floor mode ingest stays idle (it answers /stats below); the floor server takes the load.
    const target = mode.floor ? await startFloorServer(nats.url) : ingest;
    stopFloor = mode.floor ? () => target.proc.kill() : undefined;
    await client.connect();
    const latencies: number[] = [];
    const cpuOf = () => ({
      ingest: cpuSeconds(target.proc.pid!),
      consumer: cpuSeconds(consumer.proc.pid!),
      nats: cpuSeconds(nats.pid()!),
      postgres: cpuSeconds(db.pid()!, true),
      load_generator: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    });
    const switchesOf = () => ({
      ingest: contextSwitches(target.proc.pid!),
      consumer: contextSwitches(consumer.proc.pid!),
      nats: contextSwitches(nats.pid()!),
      postgres: contextSwitches(db.pid()!, true),
      load_generator: contextSwitches(process.pid),
    });
    const machineMs = machineSpeedMs();
    // Caught here: a run that fails first stops nats-server under the profile's request.
    const natsProfile = natsProfPort
      ? profileNats(natsProfPort, `${args.profile}/nats-${mode.name.replace(/[^\w.=+-]/g, '_')}-${seed}.pprof`).catch((err: Error) =>
          console.error(`[bench] no nats-server profile: ${err.message}`),
        )
      : undefined;
    const io0 = filled || Number(args.prefill) > 0 ? await ioOf(client) : undefined;
    const cpu0 = cpuOf();
    const switches0 = switchesOf();
    const t0 = performance.now();
    const sent = await sendEvents(w.events, {
      baseUrl: target.url,
      batchSize: mode.batchSize,
      concurrency: mode.concurrency,
      latencies,
      gzip: mode.gzip,
    });
    const acceptedAt = performance.now();
    // Done when every unique event is committed. Polled only after the last answer, every 100 ms
    // until 98% are in, then every 5 ms: the poll is PostgreSQL work the server would not do (every
    // 10 ms through the whole run it added ~10% to the single mode's server CPU).
    const committed = async () =>
      Number((await client.query<{ n: string | null }>('SELECT sum(unique_processed) AS n FROM topic_counters')).rows[0]?.n ?? 0);
    const what = 'every unique event committed';
    await pollUntil(committed, (n) => n >= before + 0.98 * w.unique, { what, timeoutMs: 300_000, intervalMs: 100 });
    await pollUntil(committed, (n) => n >= before + w.unique, { what, timeoutMs: 300_000, intervalMs: 5 });
    const committedAt = performance.now();
    const cpu1 = cpuOf();
    const switches1 = switchesOf();
    await natsProfile;
    const { rows: lat } = await client.query<{ ms: number }>(
      'SELECT extract(epoch FROM persisted_at - received_at)::float8 * 1000 AS ms FROM processed_events WHERE stream_seq > $1 ORDER BY 1',
      [before],
    );
    const commit = lat.map((r) => r.ms);
    const totals = (await (await fetch(`${ingest.url}/stats`)).json()) as {
      unique_processed: number;
      duplicate_dropped: number;
      database_rows: number;
    };
    // What this run added: the pre-filled rows are counted in /stats like any stored event.
    const stats = { ...totals, unique_processed: totals.unique_processed - before, database_rows: totals.database_rows - before };
    // Backends publish their statistics when idle for up to 10 s (PostgreSQL 15): waited for, before
    // the reads below add their own.
    const io = io0 ? await sleep(11_000).then(() => ioDelta(client, io0, events)) : undefined;
    const reads = Number(args.reads) > 0 ? await readsOf(ingest.url, Number(args.reads)) : undefined;
    const nc = await connect({ servers: nats.url });
    const counterMessages = await jetstreamManager(nc)
      .then((jsm) => jsm.streams.info(counterStreamName('EVENTS')))
      .then((info) => info.state.last_seq)
      .finally(() => nc.close());
    latencies.sort((a, b) => a - b);
    const e2e = (committedAt - t0) / 1000;
    const accept = (acceptedAt - t0) / 1000;
    return {
      events,
      unique: stats.unique_processed,
      duplicates: stats.duplicate_dropped,
      accept_seconds: +accept.toFixed(3),
      accept_events_per_s: Math.round(events / accept),
      e2e_seconds: +e2e.toFixed(3),
      e2e_events_per_s: Math.round(events / e2e),
      request_ms: { p50: +pct(latencies, 50).toFixed(1), p95: +pct(latencies, 95).toFixed(1), p99: +pct(latencies, 99).toFixed(1) },
      commit_ms: { p50: +pct(commit, 50).toFixed(1), p95: +pct(commit, 95).toFixed(1), p99: +pct(commit, 99).toFixed(1) },
      rss_mib: { ingest: peakRssMiB(target.proc.pid!), consumer: peakRssMiB(consumer.proc.pid!) },
      cpu_s: Object.fromEntries(
        Object.entries(cpu1).map(([k, v]) => [k, +(v - cpu0[k as keyof typeof cpu0]).toFixed(2)]),
      ) as RunResult['cpu_s'],
      switches: Object.fromEntries(
        Object.entries(switches1).map(([k, v]) => [k, v - switches0[k as keyof typeof switches0]]),
      ) as RunResult['switches'],
      machine_ms: machineMs,
      counter_messages: counterMessages,
      prefilled_rows: before,
      io,
      reads,
      exact:
        sent.failed === 0 &&
        stats.database_rows === w.unique &&
        (mode.floor
          ? stats.unique_processed === w.unique
          : checkCounts({ unique: stats.unique_processed, duplicates: stats.duplicate_dropped }, w, sent.retriedEvents).exact),
    };
  } finally {
    stopFloor?.();
    await client.end().catch(() => {});
    await stack.stop();
    if (filled) {
      const t0 = performance.now();
      await withClient(filled.pg.url, (c) => resetToPrefill(c, filled.fill));
      filled.resetSeconds.push((performance.now() - t0) / 1000);
      console.error(`[bench] back to ${filled.fill.rows} rows in ${filled.resetSeconds.at(-1)!.toFixed(1)} s`);
    }
  }
}

const IO_SQL = `
  SELECT pg_current_wal_lsn()::text AS lsn,
         (SELECT json_object_agg(indexrelname, idx_blks_read) FROM pg_statio_user_indexes WHERE relname = 'processed_events') AS reads`;

async function ioOf(c: pg.Client): Promise<{ lsn: string; reads: Record<string, number> }> {
  return (await c.query<{ lsn: string; reads: Record<string, number> }>(IO_SQL)).rows[0]!;
}

async function ioDelta(c: pg.Client, from: { lsn: string; reads: Record<string, number> }, events: number): Promise<RunResult['io']> {
  const to = await ioOf(c);
  const wal = (await c.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS b', [to.lsn, from.lsn])).rows[0]!.b;
  return {
    wal_bytes_per_event: Math.round(Number(wal) / events),
    index_reads_per_event: Object.fromEntries(
      Object.entries(to.reads).map(([name, n]) => [name, +((n - (from.reads[name] ?? 0)) / events).toFixed(3)]),
    ),
  };
}

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/** A PostgreSQL of its own, migrated, its processed_events filled with `rows` rows. */
async function startFilled(rows: number): Promise<Filled> {
  const db = await startPostgres();
  // Removed on Ctrl-C too: gigabytes in the temp dir otherwise. pg_ctl runs synchronously, before
  // a stack's own handler exits the process.
  const onSignal = () => void db.remove();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    migrate(db.url);
    const fill = await withClient(db.url, (c) =>
      prefill(c, {
        rows,
        progress: (done) => console.error(`[bench] prefill: ${done} of ${rows} rows`),
      }),
    );
    console.error(
      `[bench] prefill: ${rows} rows, insert ${fill.fillSeconds} s, indexes ${fill.indexSeconds} s, vacuum ${fill.vacuumSeconds} s, ${fill.totalBytes} bytes with indexes (${Math.round(fill.totalBytes / rows)} B/row)`,
    );
    // What a fresh copy per run would cost instead of resetToPrefill (FILE_COPY: a file copy and
    // two checkpoints, not the whole database through the WAL), measured once.
    const copySeconds = await withClient(db.url, async (c) => {
      const t0 = performance.now();
      await c.query('CREATE DATABASE prefill_copy TEMPLATE postgres STRATEGY FILE_COPY');
      const s = (performance.now() - t0) / 1000;
      await c.query('DROP DATABASE prefill_copy');
      return s;
    });
    console.error(`[bench] prefill: a copy of the filled database takes ${copySeconds.toFixed(1)} s`);
    return { pg: db, fill, copySeconds, resetSeconds: [] };
  } catch (err) {
    await db.remove();
    throw err;
  }
}

/** scripts/lib/floor-server.ts as a child process (the apps' V8 flags), publishing to `natsUrl`. */
async function startFloorServer(natsUrl: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', path.join(import.meta.dirname, 'lib/floor-server.ts')], {
    env: { ...process.env, PORT: String(port), NATS_URL: natsUrl },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await pollUntil(async () => (await fetch(url)).ok, Boolean, { what: `floor server on ${url}`, timeoutMs: 30_000 }).catch((err: Error) => {
    proc.kill();
    throw err;
  });
  return { url, proc };
}

const NATS_PROFILE_SECONDS = 5;

/** nats-server's CPU profile (its pprof endpoint) of the next NATS_PROFILE_SECONDS, saved to `file`. */
async function profileNats(port: number, file: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/debug/pprof/profile?seconds=${NATS_PROFILE_SECONDS}`);
  if (!res.ok) throw new Error(`nats-server profile: HTTP ${res.status}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  console.error(`[bench] nats-server profile: ${file} (go tool pprof -top ${file})`);
}

/**
 * GET /stats latency (ms, sequential calls over HTTP) with `topics` topics: its cost must not grow
 * with the number of topics a publisher invents (target: under 50 ms at 10,000).
 */
async function statsLatency(topics: number, calls = 50): Promise<{ p50: number; p95: number; bytes: number }> {
  const stack = await startLocalStack({}, { exitOnSignal: true });
  const client = new pg.Client({ connectionString: stack.pg.url });
  const nc = await connect({ servers: stack.nats.url });
  try {
    // The consumer owns the topology (streams, the broker-duplicate total); ingest is not ready before it.
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    await client.connect();
    await writeTopicCounters(client, nc, 'EVENTS', 'bench.t', 0, topics);
    await client.query('ANALYZE topic_counters');
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < calls + 5; i++) {
      const t0 = performance.now();
      const body = await (await fetch(`${ingest.url}/stats`)).text();
      if (i >= 5) times.push(performance.now() - t0);
      bytes = body.length;
    }
    times.sort((a, b) => a - b);
    return { p50: +pct(times, 50).toFixed(1), p95: +pct(times, 95).toFixed(1), bytes };
  } finally {
    await nc.close();
    await client.end().catch(() => {});
    await stack.stop();
  }
}

/**
 * A mode, or an A/B variant of one: `single+BATCH_LINGER_MS=50+PUBLISH_LINGER_MS=1` is the single
 * mode with those variables set for both apps, taking its turn with the others like any mode.
 */
function modeNamed(spec: string): Mode {
  const [name, ...settings] = spec.split('+');
  const mode = MODES[name!];
  if (!mode) throw new Error(`unknown mode ${name} (known: ${Object.keys(MODES).join(', ')})`);
  const env = Object.fromEntries(
    settings.map((kv) => {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv);
      if (!m) throw new Error(`--modes ${spec}: "${kv}" is not NAME=VALUE`);
      return [m[1]!, m[2]!];
    }),
  );
  if (settings.length === 0) return mode;
  return { ...mode, name: spec, appEnv: env, consumerEnv: { ...mode.consumerEnv, ...env } };
}

const summaries: Array<{ mode: Mode; runs: RunResult[]; filledRuns: RunResult[] }> = args.modes
  .split(',')
  .map((spec) => ({ mode: modeNamed(spec), runs: [], filledRuns: [] }));
const loadAtStart = os.loadavg();
const filled = Number(args.prefill) > 0 ? await startFilled(Number(args.prefill)) : undefined;
// Round robin (batched, single, baseline, batched, ...) rather than all runs of one mode in a row:
// this VM has slow and fast spells of minutes, and a mode that ran entirely in one would be
// compared (the speedup) with one that did not. For the same reason the filled runs alternate
// with the empty ones, in turns of empty-filled then filled-empty, so neither always goes first.
try {
  for (let i = 0; i < Number(args.runs); i++) {
    for (const { mode, runs, filledRuns } of summaries) {
      for (const onFilled of filled && i % 2 === 1 ? [true, false] : [false, true]) {
        if (onFilled && !filled) continue;
        const r = await runOnce(mode, Number(args.events), 1000 + i, onFilled ? filled : undefined);
        console.error(`[bench] ${mode.name} run ${i + 1}${onFilled ? ` at ${filled!.fill.rows} rows` : ''}: ${JSON.stringify(r)}`);
        (onFilled ? filledRuns : runs).push(r);
      }
    }
  }
} finally {
  await filled?.pg.remove();
}
const loadAtEnd = os.loadavg();

const statsTopics = Number(args['stats-topics']);
const statsCost = statsTopics > 0 ? await statsLatency(statsTopics) : undefined;
if (statsCost) console.error(`[bench] GET /stats with ${statsTopics} topics: ${JSON.stringify(statsCost)}`);

const stat = (runs: RunResult[], f: (r: RunResult) => number) => {
  const xs = runs.map(f);
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
};
const baseline = summaries.find((s) => s.mode.name === 'baseline');
const baselineEps = baseline ? stat(baseline.runs, (r) => r.e2e_events_per_s).median : undefined;
// The headline (batched, compared with the baseline) is printed last, as the run's final line.
const headlineLast = [...summaries].sort((a, b) => Number(a.mode.name === 'batched') - Number(b.mode.name === 'batched'));
for (const { mode, runs } of headlineLast) {
  const e2e = stat(runs, (r) => r.e2e_seconds);
  const eps = stat(runs, (r) => r.e2e_events_per_s);
  console.log(
    JSON.stringify({
      events: runs[0]!.events,
      unique: runs[0]!.unique,
      e2e_seconds: e2e.median,
      e2e_events_per_s: eps.median,
      baseline_e2e_events_per_s: baselineEps ?? null,
      speedup: baselineEps ? +(eps.median / baselineEps).toFixed(2) : null,
      mode: mode.name,
      exact_all_runs: runs.every((r) => r.exact),
    }),
  );
}
for (const { mode, runs, filledRuns } of filled ? summaries : []) {
  const eps = (rs: RunResult[]) => median(rs.map((r) => r.e2e_events_per_s));
  console.log(
    JSON.stringify({
      mode: mode.name,
      prefilled_rows: filled!.fill.rows,
      empty_e2e_events_per_s: eps(runs),
      filled_e2e_events_per_s: eps(filledRuns),
      filled_over_empty: +(eps(filledRuns) / eps(runs)).toFixed(2),
      exact_all_runs: [...runs, ...filledRuns].every((r) => r.exact),
    }),
  );
}

const versionOf = (bin: string) => {
  try {
    return execFileSync(findBinary(bin), ['--version'], { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return `${bin} (version unknown)`;
  }
};
const fmt = (s: { median: number; min: number; max: number }, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
const lines = [
  `Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${versionOf('nats-server')}, ${versionOf('postgres')}; load generator, ingest, consumer, NATS and PostgreSQL all on this one machine.`,
  `Workload: ${args.events} events, 30% duplicates, ${args.runs} runs per mode (median, min–max).`,
  '',
  '| mode | e2e s | e2e events/s | accepted events/s | request p50/p95/p99 ms | accept→commit p50/p95/p99 ms | peak RSS ingest/consumer MiB | exact | machine ms |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...summaries.map(({ mode, runs }) => {
    const m = (f: (r: RunResult) => number) => median(runs.map(f));
    return `| ${mode.name}: ${mode.description} | ${fmt(stat(runs, (r) => r.e2e_seconds))} | ${fmt(
      stat(runs, (r) => r.e2e_events_per_s),
      0,
    )} | ${m((r) => r.accept_events_per_s)} | ${m((r) => r.request_ms.p50)} / ${m((r) => r.request_ms.p95)} / ${m((r) => r.request_ms.p99)} | ${m((r) => r.commit_ms.p50)} / ${m((r) => r.commit_ms.p95)} / ${m((r) => r.commit_ms.p99)} | ${m((r) => r.rss_mib.ingest)} / ${m((r) => r.rss_mib.consumer)} | ${runs.every((r) => r.exact) ? 'yes' : 'NO'} | ${fmt(
      stat(runs, (r) => r.machine_ms),
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
    const us = (f: (c: RunResult['cpu_s']) => number) => Math.round(median(runs.map((r) => (f(r.cpu_s) / r.events) * 1e6)));
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
    const per = (f: (c: RunResult['switches']) => number) => median(runs.map((r) => f(r.switches) / r.events)).toFixed(2);
    const server = per((c) => c.ingest + c.nats + c.consumer + c.postgres);
    return `| ${mode.name} | **${server}** | ${per((c) => c.ingest)} | ${per((c) => c.nats)} | ${per((c) => c.consumer)} | ${per((c) => c.postgres)} | ${per((c) => c.load_generator)} |`;
  }),
  '',
  'Every run, in order (e2e seconds @ machine ms):',
  '',
  ...summaries.map(({ mode, runs }) => `- ${mode.name}: ${runs.map((r) => `${r.e2e_seconds.toFixed(2)} s @ ${r.machine_ms}`).join(', ')}`),
  '',
  '*machine ms*: a fixed single-threaded CPU task (100,000 JSON round trips of one event) timed just before each run; lower is faster. It shows how fast this shared VM was at the time: on the same day it ranged over ±25% within a minute, idle.',
  '',
  statsCost
    ? `GET /stats with ${statsTopics} topics (50 sequential calls over HTTP): p50 ${statsCost.p50} ms, p95 ${statsCost.p95} ms, ${statsCost.bytes} bytes.`
    : '',
  '',
  baselineEps
    ? `Speedup of batched over the one-transaction-per-event baseline, same run: **${(stat(summaries.find((s) => s.mode.name === 'batched')?.runs ?? [], (r) => r.e2e_events_per_s).median / baselineEps).toFixed(2)}x**.`
    : '',
  '',
];
/** The --prefill report: each mode and each read on the empty table and at N rows, as ratios. */
function prefillLines(fill: Prefill): string[] {
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  // CPU time rather than wall time: what the table's size costs PostgreSQL, whatever else the machine runs.
  const pgUs = (rs: RunResult[]) => Math.round(median(rs.map((r) => (r.cpu_s.postgres / r.events) * 1e6)));
  const pairs = (xs: RunResult[], ys: RunResult[], f: (r: RunResult) => number) => xs.map((x, i) => f(ys[i]!) / f(x));
  return [
    `Generated by \`npm run bench -- --prefill ${fill.rows}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${versionOf('postgres')}; everything on this one machine, load average ${loadAtStart.map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) at the start, ${loadAtEnd.map((l) => l.toFixed(1)).join(' / ')} at the end (other work shares the machine).`,
    `Workload: ${args.events} events, 30% duplicates, ${args.runs} runs per mode on each table, empty and filled runs alternating (median, min–max).`,
    '',
    `Pre-filled table: ${fill.rows.toLocaleString('en-US')} rows (${fill.topics.length} topics, random UUID event_ids) inserted in ${fill.fillSeconds} s, indexes built in ${fill.indexSeconds} s, VACUUM ANALYZE ${fill.vacuumSeconds} s; processed_events ${gib(fill.totalBytes)} GiB with its indexes (heap ${gib(fill.heapBytes)} GiB): **${Math.round(fill.totalBytes / fill.rows)} B/row** (heap ${Math.round(fill.heapBytes / fill.rows)}; ${Object.entries(
      fill.indexBytes,
    )
      .map(([name, bytes]) => `${name} ${Math.round(bytes / fill.rows)}`)
      .join(', ')}).`,
    `Between filled runs the run's rows are deleted and the table vacuumed (scripts/lib/prefill.ts resetToPrefill): ${median(filled!.resetSeconds).toFixed(1)} s median; a fresh copy of the filled database per run (CREATE DATABASE ... TEMPLATE, FILE_COPY) took ${filled!.copySeconds.toFixed(1)} s once.`,
    '',
    '| mode | empty: e2e events/s | filled: e2e events/s | filled ÷ empty (medians) | filled ÷ empty per pair (median, min–max) | accept→commit p95 ms empty / filled | PostgreSQL CPU µs/event empty / filled | exact |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summaries.map(({ mode, runs, filledRuns }) => {
      const eps = (rs: RunResult[]) => stat(rs, (r) => r.e2e_events_per_s);
      const p = pairs(runs, filledRuns, (r) => r.e2e_events_per_s);
      return `| ${mode.name} | ${fmt(eps(runs), 0)} | ${fmt(eps(filledRuns), 0)} | **${ratio(eps(filledRuns).median, eps(runs).median)}** | ${median(p).toFixed(2)} (${Math.min(...p).toFixed(2)}–${Math.max(...p).toFixed(2)}) | ${median(runs.map((r) => r.commit_ms.p95))} / ${median(filledRuns.map((r) => r.commit_ms.p95))} | ${pgUs(runs)} / ${pgUs(filledRuns)} | ${[...runs, ...filledRuns].every((r) => r.exact) ? 'yes' : 'NO'} |`;
    }),
    '',
    ...summaries.map(({ mode, runs, filledRuns }) => {
      const wal = (rs: RunResult[]) => median(rs.map((r) => r.io!.wal_bytes_per_event));
      const idx = (rs: RunResult[]) =>
        Object.keys(rs[0]!.io!.index_reads_per_event)
          .map((name) => `${name} ${median(rs.map((r) => r.io!.index_reads_per_event[name] ?? 0))}`)
          .join(', ');
      return `${mode.name}, per event (medians): WAL ${wal(runs)} B empty / **${wal(filledRuns)} B filled**; index blocks read into shared buffers, empty: ${idx(runs)}; filled: ${idx(filledRuns)}.`;
    }),
    '',
    ...(Number(args.reads) > 0
      ? [
          `Reads after each run (its events stored, the stack idle): ${args.reads} requests each, one at a time and ${READ_CONCURRENCY} at a time (one client's share of /events reads); p50 / p95 ms, median over the ${summaries.reduce((n, s) => n + s.runs.length, 0)} runs of each table.`,
          '',
          '| request | empty p50 / p95 | filled p50 / p95 | p95 filled ÷ empty |',
          '| --- | --- | --- | --- |',
          ...READ_KINDS.map((kind) => {
            const of = (filledSide: boolean, q: 'p50' | 'p95') =>
              median(summaries.flatMap((s) => (filledSide ? s.filledRuns : s.runs)).map((r) => r.reads![kind][q]));
            const label = `${kind.startsWith('events') ? `GET /events?topic=${DEFAULT_TOPICS[0]}` : 'GET /stats'}, ${kind.endsWith('_1') ? 'sequential' : `${READ_CONCURRENCY} at a time`}`;
            return `| ${label} | ${of(false, 'p50')} / ${of(false, 'p95')} | ${of(true, 'p50')} / **${of(true, 'p95')}** | ${ratio(of(true, 'p95'), of(false, 'p95'))} |`;
          }),
          '',
        ]
      : []),
    'Every run, in order (e2e seconds @ machine ms, empty / filled; odd turns ran the empty table first, even turns the filled one):',
    '',
    ...summaries.map(
      ({ mode, runs, filledRuns }) =>
        `- ${mode.name}: ${runs.map((r, i) => `${r.e2e_seconds.toFixed(2)} s @ ${r.machine_ms} / ${filledRuns[i]!.e2e_seconds.toFixed(2)} s @ ${filledRuns[i]!.machine_ms}`).join(', ')}`,
    ),
    '',
  ];
}

// Only the generated block is replaced; the hand-written notes around it (levers, profile) stay, and a
// file without the block gets it appended.
const BEGIN = filled
  ? '<!-- bench:prefill:begin (generated by npm run bench -- --prefill N) -->'
  : '<!-- bench:begin (generated by npm run bench) -->';
const END = filled ? '<!-- bench:prefill:end -->' : '<!-- bench:end -->';
let doc = '';
try {
  doc = readFileSync(args.out, 'utf8');
} catch {
  /* first run */
}
const block = `${BEGIN}\n${(filled ? prefillLines(filled.fill) : lines).join('\n')}\n${END}`;
writeFileSync(
  args.out,
  doc.includes(BEGIN) && doc.includes(END)
    ? doc.slice(0, doc.indexOf(BEGIN)) + block + doc.slice(doc.indexOf(END) + END.length)
    : `${doc}${doc && !doc.endsWith('\n') ? '\n' : ''}${block}\n`,
);
console.error(`[bench] wrote ${args.out}`);
