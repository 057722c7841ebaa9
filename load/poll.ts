import { sleep } from '../shared/retry.ts';

export interface PollOptions {
  /** What is awaited, for the timeout's message. */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before every probe: a reason to give up at once (e.g. the process awaited exited). */
  abortIf?: () => string | undefined;
}

/**
 * Calls `probe` until `done` accepts what it returns, and returns that. A probe that throws counts
 * as not done yet (a server still starting refuses connections). Throws after `timeoutMs`, with the
 * last value or error, so a test that times out says what it saw.
 */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, opts: PollOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: string | undefined;
  for (;;) {
    const aborted = opts.abortIf?.();
    if (aborted) throw new Error(`${opts.what}: ${aborted}`);
    try {
      const value = await probe();
      if (done(value)) return value;
      last = JSON.stringify(value)?.slice(0, 2_000);
    } catch (err) {
      last = `error: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) throw new Error(`${opts.what}: not within ${opts.timeoutMs} ms; last: ${last}`);
    await sleep(opts.intervalMs ?? 100);
  }
}
