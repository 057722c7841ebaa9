// `npm run bench`: the end-to-end benchmark. For each mode, N fresh stacks (throwaway NATS and
// PostgreSQL, ingest, consumer, all on this machine), the standard workload (20,000 events, 30%
// duplicates), and: accepted events/s at ingest, first request → last event committed, request
// and accept→commit latency percentiles, peak RSS, exact final counts. Prints one JSON line per
// mode and writes bench/RESULTS.md.
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
import { pollUntil } from '../shared/poll.ts';
import { seedTopics } from './lib/seed-topics.ts';
import { findBinary } from './lib/binaries.ts';
import { contextSwitches, cpuSeconds } from './lib/cpu.ts';
import { startLocalStack } from './lib/stack.ts';
import { NODE_FLAGS } from './lib/apps.ts';
import { freePort } from './lib/ports.ts';

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
    description: '100 events/request, consumer writing one event per transaction (what the seed did)',
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
}

async function runOnce(mode: Mode, events: number, seed: number): Promise<RunResult> {
  const w = generateWorkload({ events, duplicateRate: 0.3, seed });
  const natsProfPort = args.profile ? await freePort() : undefined;
  const stack = await startLocalStack(args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${args.profile}` } : {}, {
    extraNodeFlags: args['node-flags'].split(' ').filter(Boolean),
    exitOnSignal: true,
    natsConfig: natsProfPort ? `prof_port: ${natsProfPort}\n` : undefined,
  });
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
    await pollUntil(committed, (n) => n >= 0.98 * w.unique, { what, timeoutMs: 300_000, intervalMs: 100 });
    await pollUntil(committed, (n) => n >= w.unique, { what, timeoutMs: 300_000, intervalMs: 5 });
    const committedAt = performance.now();
    const cpu1 = cpuOf();
    const switches1 = switchesOf();
    await natsProfile;
    const { rows: lat } = await client.query<{ ms: number }>(
      'SELECT extract(epoch FROM persisted_at - received_at)::float8 * 1000 AS ms FROM processed_events ORDER BY 1',
    );
    const commit = lat.map((r) => r.ms);
    const stats = (await (await fetch(`${ingest.url}/stats`)).json()) as {
      unique_processed: number;
      duplicate_dropped: number;
      database_rows: number;
    };
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
    await seedTopics(client, nc, 'EVENTS', 'bench.t', 0, topics);
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

const summaries: Array<{ mode: Mode; runs: RunResult[] }> = args.modes.split(',').map((spec) => ({ mode: modeNamed(spec), runs: [] }));
// Round robin (batched, single, baseline, batched, ...) rather than all runs of one mode in a row:
// this VM has slow and fast spells of minutes, and a mode that ran entirely in one would be
// compared (the speedup) with one that did not.
for (let i = 0; i < Number(args.runs); i++) {
  for (const { mode, runs } of summaries) {
    const r = await runOnce(mode, Number(args.events), 1000 + i);
    console.error(`[bench] ${mode.name} run ${i + 1}: ${JSON.stringify(r)}`);
    runs.push(r);
  }
}

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
// Only the generated block is replaced; the hand-written notes around it (levers, profile) stay.
const BEGIN = '<!-- bench:begin (generated by npm run bench) -->';
const END = '<!-- bench:end -->';
let doc = '';
try {
  doc = readFileSync(args.out, 'utf8');
} catch {
  /* first run */
}
const block = `${BEGIN}\n${lines.join('\n')}\n${END}`;
writeFileSync(
  args.out,
  doc.includes(BEGIN) && doc.includes(END)
    ? doc.slice(0, doc.indexOf(BEGIN)) + block + doc.slice(doc.indexOf(END) + END.length)
    : `${block}\n`,
);
console.error(`[bench] wrote ${args.out}`);
