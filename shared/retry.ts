import type { Log } from './logger.ts';

export interface BackoffOptions {
  /** What is being retried, for the logs. */
  what: string;
  log: Log;
  /** Give up (rethrow the last error) after this long. */
  timeoutMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Retries `fn` with capped exponential backoff and full jitter until it succeeds or `timeoutMs`
 * passes. Used at start-up so pods that come up before NATS or PostgreSQL wait instead of
 * crash-looping, yet still fail (and get restarted) when a dependency never appears.
 */
export async function withBackoff<T>(fn: () => Promise<T>, opts: BackoffOptions): Promise<T> {
  const { what, log, timeoutMs, initialDelayMs = 200, maxDelayMs = 5_000, signal } = opts;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
      if (Date.now() + delay > deadline || signal?.aborted) throw err;
      log.warn({ err: (err as Error).message, attempt, retryInMs: delay }, `${what} failed, retrying`);
      await sleep(delay, signal);
    }
  }
}
