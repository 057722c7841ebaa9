// The arithmetic of the report: percentiles, medians over runs, and ratios between two sides.

/** The p-th percentile of an ascending array (nearest rank, 0 when empty). */
export const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** The upper median: the middle element for an odd count, the higher of the two middle ones for an even one. */
export const median = (xs: readonly number[]) => {
  if (xs.length === 0) throw new RangeError('median of no values');
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export const spread = (xs: readonly number[]): Spread => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

export const fmtSpread = (s: Spread, digits = 2) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

/**
 * How side A compares with side B: the ratio of their medians, and the ratios of the runs made next
 * to each other (A's run i over B's run i, same round). The per-pair ratios cancel most of the
 * VM's drift; the ratio of medians is what a reader checks against the two columns.
 */
export function ratios(a: readonly number[], b: readonly number[]): { ofMedians: number; perPair: Spread } {
  const pairs = Math.min(a.length, b.length);
  if (pairs === 0) throw new RangeError('ratios need at least one run on each side');
  const perPair = Array.from({ length: pairs }, (_, i) => a[i]! / b[i]!);
  return { ofMedians: median(a) / median(b), perPair: spread(perPair) };
}
