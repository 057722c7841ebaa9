// k6 script: publishes the standard workload (load/workload.ts: N events, a share of them exact
// re-sends, deterministic from a seed) and proves the result was exact.
//
//   k6 run load/publish.ts                                  # 20k events, batches of 100, 16 VUs
//   k6 run -e BATCH=1 -e BASE_URL=http://ingest:8080 load/publish.ts
//
// Env: BASE_URL (http://127.0.0.1:8080), EVENTS (20000), DUP_RATE (0.3), SEED (a new one per run,
// so a re-run sends new events; set it to repeat a run), BATCH (100; 1 = one bare event per
// request), PROFILE (demo | smoke | cluster | stress), VUS (overrides the profile), TOKEN (bearer
// token with the publish scope), READ_TOKEN (for /stats; default TOKEN), READY_TIMEOUT_S (300),
// SUMMARY (k6-summary.json).
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { StatsReply } from '../shared/stats-reply.ts';
import { chunk, generateWorkload, workloadCounts } from './workload.ts';
import { PROFILES } from './profiles.ts';
import { isRetryable, MAX_ATTEMPTS, retryDelayMs } from './retry-policy.ts';
import { checkCounts } from './count-check.ts';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const EVENTS = Number(__ENV.EVENTS || 20000);
const DUP_RATE = Number(__ENV.DUP_RATE || 0.3);
// A fixed seed would make every re-run against the same database send events it already stored,
// and the exactness check would rightly fail. The SharedArray below is built once per run, so one
// seed drawn here serves every VU.
const SEED = Number(__ENV.SEED || Date.now() % 2 ** 31);
const BATCH = Number(__ENV.BATCH || 100);
const PROFILE = PROFILES[__ENV.PROFILE || 'demo'] ?? PROFILES.demo!;
const READY_TIMEOUT_S = Number(__ENV.READY_TIMEOUT_S || 300);
// How long teardown waits for the consumer to store everything.
const SETTLE_TIMEOUT_S = 120;
const headers = (token: string | undefined): Record<string, string> => ({
  'content-type': 'application/json',
  ...(token ? { authorization: `Bearer ${token}` } : {}),
});
const PUBLISH_HEADERS = headers(__ENV.TOKEN);
const READ_HEADERS = headers(__ENV.READ_TOKEN || __ENV.TOKEN);

// Generated once, shared read-only by every VU; request i is body i.
const bodies = new SharedArray('bodies', () => {
  const w = generateWorkload({ events: EVENTS, duplicateRate: DUP_RATE, seed: SEED });
  return BATCH === 1 ? w.events.map((e) => JSON.stringify(e)) : chunk(w.events, BATCH).map((b) => JSON.stringify(b));
});
// Counted, not generated: every VU runs this init code, and a workload per VU ran k6 out of memory.
const EXPECTED = workloadCounts({ events: EVENTS, duplicateRate: DUP_RATE });

const publishFailed = new Rate('publish_failed');
const retries = new Counter('publish_retries');
const inexact = new Counter('inexact_counts');
const extraDuplicates = new Counter('duplicates_beyond_workload');
const settleTime = new Trend('settle_seconds');

export const options = {
  scenarios: {
    publish: {
      executor: 'shared-iterations',
      vus: Number(__ENV.VUS || PROFILE.vus),
      iterations: bodies.length,
      maxDuration: PROFILE.maxDuration,
    },
  },
  setupTimeout: `${READY_TIMEOUT_S + 30}s`,
  teardownTimeout: `${SETTLE_TIMEOUT_S + 30}s`,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)'],
  // The SLO contract: nothing fails, the counts are exact; latency only where the profile sets it.
  thresholds: {
    publish_failed: ['rate==0'],
    inexact_counts: ['count==0'],
    ...(PROFILE.p95Ms ? { 'http_req_duration{expected_response:true}': [`p(95)<${PROFILE.p95Ms}`] } : {}),
  },
};

function stats(): StatsReply {
  const res = http.get(`${BASE_URL}/stats`, { headers: READ_HEADERS, tags: { name: 'stats' } });
  return res.json() as unknown as StatsReply;
}

/** Health gate: do not start until ingest says it is ready; remember the counters' start point. */
export function setup(): StatsReply {
  for (let i = 0; i < READY_TIMEOUT_S; i++) {
    if (http.get(`${BASE_URL}/readyz`, { tags: { name: 'readyz' } }).status === 200) return stats();
    sleep(1);
  }
  throw new Error(`${BASE_URL}/readyz did not answer 200 within ${READY_TIMEOUT_S} s`);
}

/** A real publisher: retries 429/503/network errors with backoff and jitter, honours Retry-After. */
export default function publish() {
  const body = bodies[exec.scenario.iterationInTest]!;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const res = http.post(`${BASE_URL}/publish`, body, { headers: PUBLISH_HEADERS, tags: { name: 'publish' } });
    if (res.status === 202) {
      publishFailed.add(false);
      return;
    }
    if (!isRetryable(res.status) || attempt === MAX_ATTEMPTS) {
      check(res, { 'published (202)': (r) => r.status === 202 });
      publishFailed.add(true);
      return;
    }
    retries.add(1);
    sleep(retryDelayMs(attempt, res.headers['Retry-After']) / 1000);
  }
}

/** Waits until every unique event is persisted, then fails the run unless the counts are exact. */
export function teardown(before: StatsReply) {
  const started = Date.now();
  let s = stats();
  while (
    Date.now() - started < SETTLE_TIMEOUT_S * 1000 &&
    !(s.unique_processed - before.unique_processed >= EXPECTED.unique && s.queue_depth === 0)
  ) {
    sleep(0.2);
    s = stats();
  }
  settleTime.add((Date.now() - started) / 1000);
  const observed = { unique: s.unique_processed - before.unique_processed, duplicates: s.duplicate_dropped - before.duplicate_dropped };
  // The teardown VU cannot see how many events other VUs re-sent, so duplicates are checked from
  // below only; any excess (from retries) is reported as duplicates_beyond_workload.
  const verdict = checkCounts(observed, EXPECTED);
  if (!verdict.exact) inexact.add(1);
  extraDuplicates.add(Math.max(0, observed.duplicates - EXPECTED.duplicates));
  console.log(verdict.message);
}

export function handleSummary(data: { metrics: Record<string, { values: Record<string, number> }> }) {
  const m = data.metrics;
  const v = (name: string, key: string) => (m[name]?.values[key] ?? 0).toFixed(1);
  const text = [
    `requests: ${v('http_reqs', 'count')}  retries: ${v('publish_retries', 'count')}  failed: ${v('publish_failed', 'rate')}`,
    `request ms p50/p95/p99: ${v('http_req_duration', 'med')} / ${v('http_req_duration', 'p(95)')} / ${v('http_req_duration', 'p(99)')}`,
    `inexact counts: ${v('inexact_counts', 'count')}  duplicates beyond the workload (from retries): ${v('duplicates_beyond_workload', 'count')}  settle s: ${v('settle_seconds', 'max')}`,
    '',
  ].join('\n');
  return { stdout: text, [__ENV.SUMMARY || 'k6-summary.json']: JSON.stringify(data, null, 2) };
}
