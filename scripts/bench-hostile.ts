// `npm run bench:hostile` (`-- --seconds 30 --connections 32 --mib 8`): big invalid bodies against a
// fresh local stack (throwaway NATS + PostgreSQL, compiled ingest and consumer), on loopback, for a
// bounded time; stops by itself. `connections` keep-alive connections each send bodies of `mib` MiB
// of nested empty arrays (valid JSON, within the nesting limit, never events: 422, or 503 past
// BODY_BUDGET_BYTES) one after another, while one client publishes valid single events one after
// another and another polls /readyz every 250 ms. Prints the valid publishes' latency, /readyz's,
// ingest's RSS, and whether the edge's goals were met: publish p99 < 100 ms, /readyz < 1 s every
// time, ingest RSS <= 384 MiB. Exits 1 when one was not. The publisher runs alone for 5 s first, as
// the machine's baseline of the moment.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { startLocalStack } from './lib/stack.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '32' },
    mib: { type: 'string', default: '8' },
    // arrays: the issue's bodies. events: what the scan lets through: a batch of events within
    // MAX_EVENT_BYTES whose payloads are all empty arrays, one invalid timestamp (422 after a full parse).
    shape: { type: 'string', default: 'arrays' },
    // ingest's BODY_BUDGET_BYTES in MiB (its default when absent).
    budget: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const bodyBytes = Number(args.mib) * 1024 * 1024 - 64;
const QUIET_SECONDS = 5;

/** `[[[[[[[[]]]]]]]],…`: elements nested 8 deep, about 470,000 of them in 8 MiB: ~3.8 million arrays to parse. */
function nestedEmptyArrays(bytes: number): Buffer {
  const element = '['.repeat(8) + ']'.repeat(8);
  const n = Math.floor((bytes - 2) / (element.length + 1));
  return Buffer.from(`[${Array.from({ length: n }, () => element).join(',')}]`);
}

const statusFile = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
const kib = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(statusFile(pid))?.[1] ?? 0);

function request(agent: http.Agent, port: number, method: string, path: string, body?: Buffer | string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, method, path, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const count = (xs: number[]) => Object.fromEntries([...new Set(xs)].sort().map((s) => [s, xs.filter((x) => x === s).length]));

/** A batch of events of ~60 KiB of `[],` payload each, the last one with an invalid timestamp. */
function heavyEvents(bytes: number): Buffer {
  const payload = `[${Array.from({ length: 20_000 }, () => '[]').join(',')}]`;
  const event = (ts: string) => `{"topic":"bench.heavy","event_id":"${randomUUID()}","timestamp":"${ts}","payload":${payload}}`;
  const n = Math.min(1000, Math.floor(bytes / (payload.length + 120)));
  return Buffer.from(`[${Array.from({ length: n }, (_, i) => event(i === n - 1 ? 'never' : '2026-11-26T10:00:00Z')).join(',')}]`);
}

const stack = await startLocalStack(args.budget ? { BODY_BUDGET_BYTES: String(Number(args.budget) * 1024 * 1024) } : {}, {
  exitOnSignal: true,
});
let failed: boolean;
try {
  await stack.start('consumer');
  const ingest = await stack.start('ingest');
  const pid = ingest.proc.pid!;
  const port = Number(new URL(ingest.url).port);
  const body = args.shape === 'events' ? heavyEvents(bodyBytes) : nestedEmptyArrays(bodyBytes);
  const rssBefore = kib(pid, 'VmRSS') / 1024;

  const publishAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const publishMs: number[] = [];
  const publishStatuses: number[] = [];
  const publishUntil = async (end: number, ms: number[], statuses: number[]) => {
    while (performance.now() < end) {
      const event = JSON.stringify({ topic: 'bench.hostile', event_id: randomUUID(), timestamp: new Date().toISOString() });
      const t = performance.now();
      statuses.push(await request(publishAgent, port, 'POST', '/publish', event));
      ms.push(performance.now() - t);
    }
  };
  // The same publisher alone first: what this machine gives it without the attack, right now.
  const quietMs: number[] = [];
  await publishUntil(performance.now() + QUIET_SECONDS * 1000, quietMs, []);

  const deadline = performance.now() + seconds * 1000;
  const running = () => performance.now() < deadline;

  const attackAgent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const attackStatuses: number[] = [];
  const attackers = Array.from({ length: connections }, async () => {
    while (running()) attackStatuses.push(await request(attackAgent, port, 'POST', '/publish', body));
  });

  const publisher = publishUntil(deadline, publishMs, publishStatuses);

  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const readyMs: number[] = [];
  const readyStatuses: number[] = [];
  const prober = (async () => {
    while (running()) {
      const t = performance.now();
      readyStatuses.push(await request(probeAgent, port, 'GET', '/readyz'));
      readyMs.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, kib(pid, 'VmRSS') / 1024)), 100);
  await Promise.all([...attackers, publisher, prober]);
  clearInterval(sampler);
  const rssAfter = kib(pid, 'VmRSS') / 1024;
  const hwm = kib(pid, 'VmHWM') / 1024;
  for (const a of [attackAgent, publishAgent, probeAgent]) a.destroy();

  const p = [...publishMs].sort((a, b) => a - b);
  const r = [...readyMs].sort((a, b) => a - b);
  const q = [...quietMs].sort((a, b) => a - b);
  const goals = {
    'publish p99 < 100 ms': pct(p, 99) < 100,
    '/readyz < 1 s every time': (r.at(-1) ?? Infinity) < 1000 && readyStatuses.every((s) => s === 200),
    'ingest RSS <= 384 MiB': Math.max(rssPeak, hwm) <= 384,
  };
  failed = Object.values(goals).includes(false);
  const f = (n: number) => n.toFixed(1);
  console.log(
    [
      `ingest BODY_BUDGET_BYTES: ${args.budget ? `${args.budget} MiB` : 'default'}`,
      `machine: ${os.cpus().length} vCPU (${os.cpus()[0]?.model ?? '?'}), load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      `${seconds} s: ${connections} connections sending ${(body.length / 1024 / 1024).toFixed(1)} MiB of ${args.shape === 'events' ? 'events with empty-array payloads' : 'nested empty arrays'}: ${attackStatuses.length} bodies, statuses ${JSON.stringify(count(attackStatuses))}`,
      `alone for ${QUIET_SECONDS} s first: ${quietMs.length} valid publishes, ms p50 ${f(pct(q, 50))}, p99 ${f(pct(q, 99))}, max ${f(q.at(-1) ?? NaN)}`,
      `valid publishes, one after another: ${publishMs.length}, statuses ${JSON.stringify(count(publishStatuses))}; ms p50 ${f(pct(p, 50))}, p99 ${f(pct(p, 99))}, max ${f(p.at(-1) ?? NaN)}`,
      `/readyz every 250 ms: ${readyMs.length}, statuses ${JSON.stringify(count(readyStatuses))}; ms p50 ${f(pct(r, 50))}, max ${f(r.at(-1) ?? NaN)}`,
      `ingest RSS: ${f(rssBefore)} MiB before, peak ${f(Math.max(rssPeak, hwm))} MiB (VmHWM ${f(hwm)}), ${f(rssAfter)} MiB at the end`,
      ...Object.entries(goals).map(([goal, met]) => `${met ? 'met ' : 'MISSED'} ${goal}`),
    ].join('\n'),
  );
} finally {
  await stack.stop();
}
process.exit(failed ? 1 : 0);
