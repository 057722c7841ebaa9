// Cluster step: the README's way in, `kubectl port-forward svc/<release>-ingest`, under the standard
// workload (20,000 events, 30% duplicates) with exact counts read through it; then a rolling restart
// of ingest, which ends the forward with the pod it was bound to, re-established as
// docs/kubernetes.md tells users: the command in a `while` loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendEvents, waitForStats, type SendResult } from '../../../load/client.ts';
import { checkCounts } from '../../../load/count-check.ts';
import { generateWorkload } from '../../../load/workload.ts';
import type { Event } from '../../../shared/event.ts';
import type { StatsReply } from '../../../shared/stats-reply.ts';
import { check } from '../check.ts';
import type { Kube } from '../kube.ts';

/** A local TCP port nothing listens on now (the OS's pick). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * `kubectl port-forward` to a free local port, restarted whenever it exits, exactly as the docs'
 * shell loop does; its output goes to `logFile` (one "Forwarding from" line per connection made).
 */
export class PortForward {
  private proc: ChildProcess | undefined;
  port = 0;

  constructor(
    private readonly kube: Kube,
    private readonly ns: string,
    private readonly target: string,
    private readonly remotePort: number,
    readonly logFile: string,
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the loop and waits until ingest answers through it. */
  async start(): Promise<void> {
    this.port = await freePort();
    const fd = openSync(this.logFile, 'a');
    // detached: its own process group, so that stop() ends the loop and the kubectl it runs.
    this.proc = spawn(
      'sh',
      [
        '-c',
        'while true; do "$0" -n "$1" port-forward "$2" "$3"; sleep 1; done',
        this.kube.kubectlBin,
        this.ns,
        this.target,
        `${this.port}:${this.remotePort}`,
      ],
      { stdio: ['ignore', fd, fd], detached: true },
    );
    closeSync(fd);
    await this.kube.until(
      `ingest answering through the port-forward ${this.url}`,
      async () => (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))?.ok,
      60_000,
      500,
    );
  }

  /** How many times kubectl connected ("Forwarding from 127.0.0.1:..." once per start). */
  connections(): number {
    return readFileSync(this.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Forwarding from 127.0.0.1')).length;
  }

  stop() {
    if (this.proc?.pid && this.proc.exitCode === null) {
      try {
        process.kill(-this.proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    this.proc = undefined;
  }
}

export interface PortForwardStepContext {
  kube: Kube;
  ns: string;
  release: string;
  logFile: string;
  seed: number;
}

/** Waits until everything sent since `before` is stored, then checks the counts through `url` exactly. */
async function settledExact(url: string, before: StatsReply, events: readonly Event[], sent: SendResult): Promise<string> {
  const unique = new Set(events.map((e) => `${e.topic}\u0000${e.event_id}`)).size;
  const want = { unique, duplicates: events.length - unique };
  const after = await waitForStats(url, (s) => s.unique_processed - before.unique_processed >= unique && s.queue_depth === 0, 180_000);
  const verdict = checkCounts(
    { unique: after.unique_processed - before.unique_processed, duplicates: after.duplicate_dropped - before.duplicate_dropped },
    want,
    sent.retriedEvents,
  );
  check(verdict.exact, verdict.message);
  const rows = after.database_rows - before.database_rows;
  check(rows === unique, `database_rows grew by ${rows}, expected ${unique}`);
  return `${verdict.message}; database_rows +${rows}`;
}

export async function portForwardStep(ctx: PortForwardStepContext): Promise<string> {
  const { kube, ns, release } = ctx;
  const pf = new PortForward(kube, ns, `svc/${release}-ingest`, 8080, ctx.logFile);
  const lines: string[] = [];
  try {
    await pf.start();
    const url = pf.url;
    const w = generateWorkload({ events: 20_000, duplicateRate: 0.3, seed: ctx.seed });
    const before = await waitForStats(url, (s) => s.queue_depth === 0, 60_000);
    let t0 = Date.now();
    const r = await sendEvents(w.events, { baseUrl: url, batchSize: 100, concurrency: 8, maxAttempts: 30 });
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    lines.push(
      `kubectl -n ${ns} port-forward svc/${release}-ingest ${pf.port}:8080: 20000 events in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
        `${r.requests} requests, ${r.retries} retries`,
      `/stats through the port-forward: ${await settledExact(url, before, w.events, r)}`,
    );

    // The rolling restart, with events flowing until the forward has been re-established: an old
    // ingest pod keeps answering its open connections through its preStop sleep, so a short load
    // could end before the forward ever breaks.
    const w2 = generateWorkload({ events: 30_000, duplicateRate: 0.3, seed: ctx.seed + 1 });
    const before2 = await waitForStats(url, (s) => s.queue_depth === 0, 60_000);
    const connections = pf.connections();
    t0 = Date.now();
    let rolled = false;
    const restart = (async () => {
      await kube.kubectl(['-n', ns, 'rollout', 'restart', `deployment/${release}-ingest`]);
      await kube.kubectl(['-n', ns, 'rollout', 'status', `deployment/${release}-ingest`, '--timeout=5m'], { timeoutMs: 6 * 60_000 });
      await kube.rolledOut(ns, 5 * 60_000, release);
      rolled = true;
    })();
    restart.catch(() => {});
    const reconnected = () => rolled && pf.connections() > connections;
    const sent: Event[] = [];
    const r2: SendResult = { requests: 0, retries: 0, failed: 0, accepted: 0, brokerDuplicates: 0, retriedEvents: 0 };
    // Chunks of at least a second each (up to 100 s in all) until the forward is back, then one more through it.
    for (let last = false; !last;) {
      last = reconnected();
      const chunkStarted = Date.now();
      const part = w2.events.slice(sent.length, sent.length + 300);
      check(part.length > 0, `${w2.events.length} events sent and the port-forward was not re-established (rolled out: ${rolled})`);
      const r = await sendEvents(part, { baseUrl: url, batchSize: 20, concurrency: 4, maxAttempts: 60 });
      for (const k of Object.keys(r2) as Array<keyof SendResult>) r2[k] += r[k];
      sent.push(...part);
      check(r2.failed === 0, `${r2.failed} requests failed after every retry`);
      await sleep(Math.max(0, 1_000 - (Date.now() - chunkStarted)));
    }
    await restart;
    lines.push(
      `rolling restart of ingest during ${sent.length} more events (${((Date.now() - t0) / 1000).toFixed(1)} s): the port-forward reconnected ` +
        `${pf.connections() - connections} time(s) through the docs' loop; ${r2.requests} requests, ${r2.retries} retries`,
      `/stats through the re-established port-forward: ${await settledExact(url, before2, sent, r2)}`,
    );
    return lines.join('\n');
  } finally {
    pf.stop();
  }
}
