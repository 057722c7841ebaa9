import { finished } from 'node:stream';
import type { FastifyReply } from 'fastify';

export type SlotRefusal = 'replica' | 'client';

/**
 * The /events read slots of one replica: at most `total` reads at once, at most `perClient` of
 * them for one client, each held until its reply has left the process, and for no longer than
 * `writeTimeoutMs`.
 *
 * A read holds its slot until its reply is written out (or the client is gone), not just until its
 * query ends: a client that does not read would otherwise leave up to EVENTS_MAX_BYTES per request
 * in ingest's memory, for any number of requests. That makes the slots themselves a target for
 * sockets that never read (docs/decisions/0003-bounded-bodies-and-reads.md): the per-client share
 * keeps one client from taking them all; the write deadline returns a slot from any client, however
 * many addresses it has.
 */
export class ReadSlots {
  private inUse = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    private readonly total: number,
    private readonly perClient: number,
    private readonly writeTimeoutMs: number,
  ) {}

  get reading(): number {
    return this.inUse;
  }

  /** Takes a slot for `client` until `reply` has left; or says which cap refused it. */
  take(client: string, reply: FastifyReply): SlotRefusal | undefined {
    if (this.inUse >= this.total) return 'replica';
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= this.perClient) return 'client';
    this.inUse++;
    this.byClient.set(client, mine + 1);
    // Destroying the response closes its connection: the bytes still queued for a client that
    // stopped reading are dropped, and finished() below fires.
    const deadline = setTimeout(() => reply.raw.destroy(), this.writeTimeoutMs);
    // finished(), not a 'close' listener: the client may have gone before the handler runs, and a
    // listener added after 'close' never fires (the slot would be lost for good).
    finished(reply.raw, () => {
      clearTimeout(deadline);
      this.inUse--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left > 0) this.byClient.set(client, left);
      else this.byClient.delete(client);
    });
    return undefined;
  }
}
