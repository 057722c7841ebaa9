// The one definition of the benchmark/demo workload: N events, a given share of them duplicates
// (exact re-sends of an earlier event, as a retrying client would produce) spread through the run,
// deterministic from a seed. Used by `npm run demo`, `npm run bench` and the pipeline tests.
import type { Event } from '../shared/event.ts';

export interface WorkloadOptions {
  events: number;
  duplicateRate: number;
  seed: number;
  topics?: readonly string[];
  /** Adds a string of this many bytes to every payload: fills a bounded buffer with few events. */
  padBytes?: number;
}

export interface Workload {
  events: Event[];
  unique: number;
  duplicates: number;
}

export const DEFAULT_TOPICS = ['orders.created', 'orders.paid', 'users.signup', 'payments.refund', 'audit.login'] as const;

/** mulberry32: tiny, fast, good enough to spread events deterministically. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number) => 'x'.repeat(n);
const hex = (rand: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');

/** How many unique events and re-sends a workload holds, without generating it. */
export function workloadCounts({ events, duplicateRate }: Pick<WorkloadOptions, 'events' | 'duplicateRate'>): {
  unique: number;
  duplicates: number;
} {
  if (!(duplicateRate >= 0 && duplicateRate < 1)) throw new RangeError('duplicateRate must be in [0, 1)');
  const unique = Math.round(events * (1 - duplicateRate));
  return { unique, duplicates: unique > 0 ? events - unique : 0 };
}

export function generateWorkload({ events, duplicateRate, seed, topics = DEFAULT_TOPICS, padBytes = 0 }: WorkloadOptions): Workload {
  const { unique, duplicates } = workloadCounts({ events, duplicateRate });
  const rand = prng(seed);
  const base = Date.UTC(2026, 0, 1);
  const keyed: Array<{ key: number; event: Event }> = [];
  const originals: Event[] = [];
  for (let i = 0; i < unique; i++) {
    const event: Event = {
      topic: topics[Math.floor(rand() * topics.length)]!,
      // UUID-shaped, unique per (seed, i).
      event_id: `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${(seed >>> 0).toString(16).padStart(4, '0').slice(-4)}${i.toString(16).padStart(8, '0')}`,
      timestamp: new Date(base + i * 37).toISOString(),
      source: `svc-${Math.floor(rand() * 8)}`,
      payload: {
        n: i,
        amount: Math.round(rand() * 10_000) / 100,
        tags: ['demo', `seed-${seed}`],
        ...(padBytes > 0 ? { pad: pad(padBytes) } : {}),
      },
    };
    originals.push(event);
    keyed.push({ key: i + rand(), event });
  }
  for (let d = 0; d < duplicates; d++) {
    const of = Math.floor(rand() * unique);
    // Strictly after the original, anywhere in the rest of the run.
    keyed.push({ key: of + 1 + rand() * (unique - of), event: originals[of]! });
  }
  keyed.sort((a, b) => a.key - b.key);
  return { events: keyed.map((k) => k.event), unique, duplicates };
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The first occurrence of each (topic, event_id) in `events`: what the database stores of them. */
export function firstOccurrences(events: readonly Event[]): Event[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    const key = `${e.topic}\u0000${e.event_id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
