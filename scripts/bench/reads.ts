// `--reads N`: read latency once a run's events are stored, the stack otherwise idle.
import { DEFAULT_TOPICS } from '../../load/workload.ts';
import { pct } from './stats.ts';

// Two at a time: one client's share of /events reads (EVENTS_MAX_CONCURRENT_PER_CLIENT); a third
// would be refused with 503 rather than measured.
export const READ_CONCURRENCY = 2;
export const READ_KINDS = ['events_1', `events_${READ_CONCURRENCY}`, 'stats_1', `stats_${READ_CONCURRENCY}`] as const;
export type ReadKind = (typeof READ_KINDS)[number];
export type Reads = Record<ReadKind, { p50: number; p95: number }>;

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

/** GET /events (first page of one topic) and GET /stats, one at a time and READ_CONCURRENCY at a time. */
export async function readsOf(ingestUrl: string, requests: number): Promise<Reads> {
  const events = `${ingestUrl}/events?topic=${DEFAULT_TOPICS[0]}`;
  return {
    events_1: await readLatency(events, requests, 1),
    [`events_${READ_CONCURRENCY}`]: await readLatency(events, requests, READ_CONCURRENCY),
    stats_1: await readLatency(`${ingestUrl}/stats`, requests, 1),
    [`stats_${READ_CONCURRENCY}`]: await readLatency(`${ingestUrl}/stats`, requests, READ_CONCURRENCY),
  };
}
