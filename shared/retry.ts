import type { Log } from './logger.ts';

/**
 * A retry schedule: the first retry waits `initialMs`, each next one twice as long, up to `maxMs`.
 * `jitter: 'half'` draws each delay between half and all of that, so processes that failed
 * together (pods started before their dependency) do not retry together.
 */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  jitter?: 'none' | 'half';
}

/**
 * The delay before retry number `retry` (1 = the first retry). The exponent stops at 30 so that a
 * long-running retry loop never computes Infinity; every schedule reaches its cap well before.
 */
export function backoffDelayMs(retry: number, { initialMs, maxMs, jitter = 'none' }: Backoff, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(retry - 1, 30));
  return jitter === 'half' ? Math.round(cap / 2 + (random() * cap) / 2) : cap;
}

/** Which failures of a loop that retries for good are logged: the first, then every 10th, so an outage is seen without flooding the log. */
export const logsAttempt = (attempt: number): boolean => attempt === 1 || attempt % 10 === 0;

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Time as a retry loop sees it; tests pass their own so that no test waits on the wall clock. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const wallClock: Clock = { now: () => Date.now(), sleep };

/** What withBackoff waits between attempts: pods that start before NATS or PostgreSQL wait, not crash-loop. */
export const STARTUP_BACKOFF: Backoff = { initialMs: 200, maxMs: 5_000, jitter: 'half' };

export interface BackoffOptions {
  /** What is being retried, for the logs. */
  what: string;
  log: Log;
  /** Give up (rethrow the last error) after this long. */
  timeoutMs: number;
  signal?: AbortSignal;
  clock?: Clock;
  random?: () => number;
}

/**
 * Retries `fn` on STARTUP_BACKOFF's schedule until it succeeds or `timeoutMs` passes. Used at
 * start-up so pods that come up before NATS or PostgreSQL wait instead of crash-looping, yet still
 * fail (and get restarted) when a dependency never appears.
 */
export async function withBackoff<T>(fn: () => Promise<T>, opts: BackoffOptions): Promise<T> {
  const { what, log, timeoutMs, signal, clock = wallClock, random } = opts;
  const deadline = clock.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delay = backoffDelayMs(attempt, STARTUP_BACKOFF, random);
      if (clock.now() + delay > deadline || signal?.aborted) throw err;
      log.warn({ err: (err as Error).message, attempt, retryInMs: delay }, `${what} failed, retrying`);
      await clock.sleep(delay, signal);
    }
  }
}
