// When is a run's result exact? Shared by the k6 teardown, `npm run demo` and the benchmark.
// Pure functions only: this file is loaded by k6's runtime, which has no Node APIs.

export interface Counts {
  unique: number;
  duplicates: number;
}

export interface CountVerdict {
  exact: boolean;
  message: string;
}

/**
 * Every unique event stored exactly once, and every re-sent one dropped as a duplicate.
 *
 * A retried request can add duplicates the workload did not plan: if a 202 was lost (network
 * error) or a batch was answered 503 after part of it was stored, the resend is dropped by the
 * broker and counted. So the duplicates may exceed the workload's by at most the events in
 * retried requests. `retriedEvents` undefined means the caller cannot know (k6's teardown sees
 * no per-VU state): then only the lower bound is checked. Unique counts are always exact.
 */
export function checkCounts(observed: Counts, expected: Counts, retriedEvents?: number): CountVerdict {
  const maxDuplicates = retriedEvents === undefined ? Infinity : expected.duplicates + retriedEvents;
  const exact = observed.unique === expected.unique && observed.duplicates >= expected.duplicates && observed.duplicates <= maxDuplicates;
  const allowance = retriedEvents ? ` (+ up to ${retriedEvents} from retried requests)` : retriedEvents === undefined ? ' or more' : '';
  const message =
    `${observed.unique} unique stored (expected ${expected.unique}), ` +
    `${observed.duplicates} duplicates dropped (expected ${expected.duplicates}${allowance}): ${exact ? 'exact' : 'NOT EXACT'}`;
  return { exact, message };
}
