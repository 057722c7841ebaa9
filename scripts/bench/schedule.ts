// The order of the runs. This VM has slow and fast spells of minutes, so runs of one mode are never
// made in a row: each round runs every mode once (batched, single, per-event, batched, ...), and
// what a mode is compared with in the same invocation (the filled table of --prefill, the builds
// of --against) runs next to it, in an order that rotates every round so no side always goes first.

export interface Turn<S> {
  /** 0-based. */
  round: number;
  side: S;
}

/**
 * `rounds` rounds over `groups` (each a mode and what it is compared with): round r runs every
 * group in order, each one's sides rotated left by r.
 */
export function alternatingTurns<S>(rounds: number, groups: ReadonlyArray<readonly S[]>): Turn<S>[] {
  const turns: Turn<S>[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const sides of groups) {
      const k = sides.length === 0 ? 0 : round % sides.length;
      for (const side of [...sides.slice(k), ...sides.slice(0, k)]) turns.push({ round, side });
    }
  }
  return turns;
}
