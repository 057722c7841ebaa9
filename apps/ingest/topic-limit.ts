/**
 * The bound on distinct topics (MAX_TOPICS). Every topic costs a counter row in PostgreSQL and a
 * counter subject in NATS for good, so their number must not grow with whatever clients send.
 *
 * Known topics are those stored in PostgreSQL (read at start and every refresh) and those this
 * replica accepted since. A topic is new when neither has it. Replicas do not share what they
 * accepted before the next refresh, so N replicas can together pass the limit by what they admit
 * within one refresh interval; the bound holds within that margin, not to the topic. Until the
 * first read succeeds (PostgreSQL down at start), every topic is admitted: publishing must not
 * depend on PostgreSQL (the events are safe in JetStream), and the read corrects the count later.
 */
export class TopicLimit {
  private readonly known = new Set<string>();
  private loaded = false;

  constructor(readonly max: number) {}

  get size(): number {
    return this.known.size;
  }

  /** Topics stored in PostgreSQL: known from now on. */
  learn(topics: Iterable<string>): void {
    for (const t of topics) this.known.add(t);
    this.loaded = true;
  }

  /**
   * The distinct new topics of these events if admitting them would pass the limit (nothing is
   * admitted then: a batch is all or nothing), else [] and they are known from now on.
   */
  admit(topics: Iterable<string>): string[] {
    let fresh: Set<string> | undefined;
    for (const t of topics) if (!this.known.has(t)) (fresh ??= new Set()).add(t);
    if (!fresh) return [];
    if (this.loaded && this.known.size + fresh.size > this.max) return [...fresh];
    for (const t of fresh) this.known.add(t);
    return [];
  }
}
