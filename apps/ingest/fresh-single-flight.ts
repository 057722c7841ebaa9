/**
 * Shares one computation among concurrent callers (/stats), but never hands a caller figures whose
 * computation started before it asked: a caller arriving while one runs waits for the next.
 */
export class FreshSingleFlight<T> {
  private running?: Promise<T>;
  private next?: Promise<T>;

  constructor(private readonly compute: () => Promise<T>) {}

  run(): Promise<T> {
    if (!this.running) return this.start();
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<T> {
    const p: Promise<T> = this.compute().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}
