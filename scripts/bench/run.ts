// One run of a mode: a fresh stack (this tree's, or another commit's build), the standard workload
// sent through it, and what it took: throughput, latencies, CPU and context switches per process,
// peak RSS, and whether every count came out exact.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { sendEvents } from '../../load/client.ts';
import { checkCounts } from '../../load/count-check.ts';
import { generateWorkload } from '../../load/workload.ts';
import { counterStreamName } from '../../shared/nats/topology.ts';
import { pollUntil } from '../../load/poll.ts';
import { sleep } from '../../shared/retry.ts';
import { machineSpeedMs } from '../lib/machine-speed.ts';
import { freePort } from '../lib/ports.ts';
import { startLocalStack, type StackBuild } from '../lib/stack.ts';
import { startFloorServer } from './floor.ts';
import { profileNats } from './nats-profile.ts';
import { ioDelta, ioOf, type IoPerEvent } from './pg-io.ts';
import { resetFilled, type Filled } from './prefilled.ts';
import { readsOf, type Reads } from './reads.ts';
import type { Mode } from './modes.ts';
import { pct } from './stats.ts';
import { peakRssMiB, usageBetween, usageOf, type PerPart } from './usage.ts';

export interface RunResult {
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
  cpu_s: PerPart;
  /** Context switches of each part during the run (threads going to sleep and being woken). */
  switches: PerPart;
  exact: boolean;
  /** machineSpeedMs() just before the run: how fast this VM was at the time (lower = faster). */
  machine_ms: number;
  /**
   * Broker-duplicate counter increments JetStream stored during the run (messages besides the
   * events); null for a build without that counter stream.
   */
  counter_messages: number | null;
  /** Rows stored before the run (--prefill), 0 on an empty table. */
  prefilled_rows: number;
  /** With --prefill: WAL bytes and index blocks read per event over the run: where a bigger table costs. */
  io?: IoPerEvent;
  /** Read latency once the run's events are stored (--reads). */
  reads?: Reads;
}

export interface RunOptions {
  events: number;
  /** The workload's random seed: the same for every mode of one round. */
  seed: number;
  /** Directory for CPU profiles (--profile). */
  profile?: string;
  nodeFlags: string[];
  /** Reads measured after the run (--reads), 0 for none. */
  reads: number;
  /** The pre-filled database to run on instead of a fresh one (reset afterwards). */
  filled?: Filled;
  /** Measure WAL and index reads (set for every run of a --prefill invocation, empty table too). */
  measureIo: boolean;
  /** Another commit's build to run the mode on (--against); this tree's when unset. */
  build?: StackBuild;
  /** PostgreSQL server settings (--pg-setting) for a fresh PostgreSQL (the filled one has its own). */
  pgSettings?: Record<string, string>;
}

/** Broker-duplicate counter messages stored, or null when the build keeps no such stream. */
async function counterMessagesOf(natsUrl: string): Promise<number | null> {
  const nc = await connect({ servers: natsUrl });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(counterStreamName('EVENTS'));
    return info.state.last_seq;
  } catch {
    return null;
  } finally {
    await nc.close();
  }
}

export async function runOnce(mode: Mode, o: RunOptions): Promise<RunResult> {
  const { events, filled } = o;
  const w = generateWorkload({ events, duplicateRate: 0.3, seed: o.seed });
  const natsProfPort = o.profile ? await freePort() : undefined;
  const stack = await startLocalStack(o.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${o.profile}` } : {}, {
    extraNodeFlags: o.nodeFlags,
    exitOnSignal: true,
    natsConfig: natsProfPort ? `prof_port: ${natsProfPort}\n` : undefined,
    postgres: filled?.pg,
    postgresSettings: o.pgSettings,
    build: o.build,
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
    const processes = { ingest: target.proc.pid!, consumer: consumer.proc.pid!, nats: nats.pid()!, postgres: db.pid()! };
    const machineMs = machineSpeedMs();
    // Caught here: a run that fails first stops nats-server under the profile's request.
    const natsProfile = natsProfPort
      ? profileNats(natsProfPort, `${o.profile}/nats-${mode.name.replace(/[^\w.=+-]/g, '_')}-${o.seed}.pprof`).catch((err: Error) =>
          console.error(`[bench] no nats-server profile: ${err.message}`),
        )
      : undefined;
    const io0 = o.measureIo ? await ioOf(client) : undefined;
    const usage0 = usageOf(processes);
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
    const usage = usageBetween(usage0, usageOf(processes));
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
    const reads = o.reads > 0 ? await readsOf(ingest.url, o.reads) : undefined;
    const counterMessages = await counterMessagesOf(nats.url);
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
      cpu_s: usage.cpu_s,
      switches: usage.switches,
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
    if (filled) await resetFilled(filled);
  }
}
