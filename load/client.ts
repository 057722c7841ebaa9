// A publisher as a real client should be: retries 429/503/network errors with exponential backoff
// and full jitter, honours Retry-After, and resends the same event_ids (so retries are harmless).
// node:http with a keep-alive agent rather than fetch: on the benchmark machine fetch cost ~0.4 ms
// of CPU per request, as much as the ingest server itself, and the load generator shares the cores.
import http from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Event } from '../shared/event.ts';
import { chunk } from './workload.ts';
import { isRetryable, MAX_ATTEMPTS, retryDelayMs } from './retry-policy.ts';
import { sleep } from '../shared/retry.ts';
import { pollUntil } from './poll.ts';
import type { StatsReply } from '../shared/stats-reply.ts';

export interface SendOptions {
  baseUrl: string | string[];
  /** Events per request; 1 sends bare event objects (as the previous service's clients do). */
  batchSize: number;
  concurrency: number;
  token?: string;
  maxAttempts?: number;
  /** Per-request latencies in ms, if given. */
  latencies?: number[];
  /** Sends every body gzip-compressed (Content-Encoding: gzip), compressed before the first request. */
  gzip?: boolean;
}

export interface SendResult {
  requests: number;
  retries: number;
  failed: number;
  accepted: number;
  brokerDuplicates: number;
  /** Events in requests that were sent more than once (see load/count-check.ts for why it matters). */
  retriedEvents: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

interface Reply {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

function post(url: URL, body: string | Buffer, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: data }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function sendEvents(events: readonly Event[], opts: SendOptions): Promise<SendResult> {
  const urls = [opts.baseUrl].flat().map((u) => new URL('/publish', u));
  const batches = chunk(events, opts.batchSize);
  // A batch size of 1 sends the bare event (as the previous service's clients do), not an array of one.
  const json = batches.map((b) => JSON.stringify(opts.batchSize === 1 ? b[0] : b));
  const bodies = opts.gzip ? await Promise.all(json.map((b) => promisify(gzip)(b))) : json;
  const result: SendResult = { requests: 0, retries: 0, failed: 0, accepted: 0, brokerDuplicates: 0, retriedEvents: 0 };
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  let next = 0;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.gzip) headers['content-encoding'] = 'gzip';

  const worker = async (w: number) => {
    for (let i = next++; i < bodies.length; i = next++) {
      for (let attempt = 1; ; attempt++) {
        // Round-robin over ingest replicas; a retry goes to the next one (a load balancer's job).
        const url = urls[(i + attempt + w) % urls.length]!;
        const started = performance.now();
        result.requests++;
        if (attempt === 2) result.retriedEvents += batches[i]!.length;
        const res = await post(url, bodies[i]!, headers).catch(() => undefined);
        if (res?.status === 202) {
          opts.latencies?.push(performance.now() - started);
          const body = JSON.parse(res.body) as { accepted?: number; duplicates?: number };
          result.accepted += body.accepted ?? 0;
          result.brokerDuplicates += body.duplicates ?? 0;
          break;
        }
        if (!isRetryable(res?.status ?? 0)) {
          result.failed++;
          throw new Error(`HTTP ${res!.status}: ${res!.body}`);
        }
        if (attempt >= maxAttempts) {
          result.failed++;
          break;
        }
        result.retries++;
        await sleep(retryDelayMs(attempt, res?.retryAfter));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  return result;
}

/** Polls /stats until `done(stats)` (an ingest restarting meanwhile is waited for); throws on timeout. */
export async function waitForStats(
  baseUrl: string,
  done: (s: StatsReply) => boolean,
  timeoutMs: number,
  token?: string,
): Promise<StatsReply> {
  return pollUntil(
    async () => {
      // A time limit per probe: fetch reuses kept-alive connections, and one to a pod that was
      // force-deleted never answers (no RST comes from a removed network namespace); without a
      // limit that probe waits for undici's 300 s headers timeout and the whole wait fails.
      const res = await fetch(`${baseUrl}/stats`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`GET /stats answered ${res.status}`);
      return (await res.json()) as StatsReply;
    },
    done,
    { what: `${baseUrl}/stats`, timeoutMs, intervalMs: 50 },
  );
}
