// How a publisher retries, shared by the k6 script (load/publish.ts) and the Node client
// (load/client.ts) so both behave alike and the policy has unit tests even where k6 cannot run.
// Pure functions only: this file is loaded by k6's runtime, which has no Node APIs.

/** Attempts per request before it counts as failed (~1 minute of backoff at the cap). */
export const MAX_ATTEMPTS = 12;

const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

/**
 * Whether a response may be retried. 0 is how both clients report a network error or timeout;
 * 429 (rate limited) and 503 (NATS not reachable or no PubAck in time) say "try again later".
 * Anything else is final: a 400 will not get better by resending it.
 */
export function isRetryable(status: number): boolean {
  return status === 0 || status === 429 || status === 503;
}

/**
 * Milliseconds to wait before attempt `attempt + 1`: exponential backoff with full jitter (so
 * many clients that failed together do not retry together), capped, and never shorter than the
 * server's `Retry-After` (seconds, as ingest and @fastify/rate-limit send it).
 */
export function retryDelayMs(attempt: number, retryAfter: string | number | undefined, random: () => number = Math.random): number {
  const backoff = random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  const seconds = Number(retryAfter);
  const serverAsked = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
  return Math.max(backoff, serverAsked);
}
