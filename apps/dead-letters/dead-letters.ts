import { randomUUID } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { subjectFor } from '../../shared/event.ts';
import { deadLetterStreamName } from '../../shared/nats/topology.ts';
import { decodeDelivery } from '../../shared/decode.ts';

/** One message of the dead-letter stream, with what its Dlq-* headers (apps/consumer/dead-letter.ts) say. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream: what show, replay and purge take. */
  seq: number;
  /** When it was dead-lettered (RFC 3339). */
  time: string;
  topic: string;
  /** Null when the message does not decode (then the reason says why). */
  event_id: string | null;
  reason: string;
  deliveries: number | null;
  /** Its sequence in the event stream before it was dead-lettered. */
  stream_seq: number | null;
  subject: string;
  /** The message as it was in the event stream (the event plus received_at). */
  data: string;
}

/** Which dead letters an operation takes: one by its sequence, every one of a topic, or all. */
export type Selection = { seq: number } | { topic: string } | { all: true };

const intOrNull = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : null);

function toDeadLetter(stream: string, m: StoredMsg): DeadLetter {
  const data = m.string();
  const decoded = decodeDelivery(m.seq, m.data);
  let eventId: string | null = null;
  if (decoded.ok) eventId = decoded.delivery.event.event_id;
  else {
    try {
      const id = (JSON.parse(data) as { event_id?: unknown }).event_id;
      if (typeof id === 'string') eventId = id;
    } catch {
      // Not JSON: no event_id to show.
    }
  }
  return {
    seq: m.seq,
    time: m.time.toISOString(),
    topic: m.subject.slice(`dlq.${stream}.`.length),
    event_id: eventId,
    reason: m.header?.get('Dlq-Reason') ?? '',
    deliveries: intOrNull(m.header?.get('Dlq-Deliveries')),
    stream_seq: intOrNull(m.header?.get('Dlq-Stream-Seq')),
    subject: m.header?.get('Dlq-Subject') || m.subject,
    data,
  };
}

const isNotFound = (err: unknown) => /no message found|not found/i.test(String((err as Error)?.message));
/**
 * nats-server's answer to deleting a sequence the stream does not hold (10057, "stream msg delete
 * failed": "no message found", or "stream store EOF" past the last sequence).
 */
const MSG_DELETE_FAILED = 10057;

/**
 * The dead-letter stream of one event stream, read and emptied with the rights of the
 * `dead-letters` NATS user only: stream info, message get and delete, purge of the dead-letter
 * stream, and publish on `events.>` (templates/_nats.tpl). It reads message by message
 * (STREAM.MSG.GET with next_by_subj): no consumer is created, so nothing is left behind on the
 * server when the tool is interrupted.
 */
export class DeadLetters {
  readonly dlqStream: string;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly publishTimeoutMs = 10_000,
  ) {
    this.dlqStream = deadLetterStreamName(stream);
  }

  private filter(topic?: string) {
    return topic === undefined ? `dlq.${this.stream}.>` : `dlq.${this.stream}.${topic}`;
  }

  /** Held now, and dead-lettered since the stream was created (its last sequence: purges and replays never lower it). */
  async counts(): Promise<{ held: number; bytes: number; dead_lettered: number; first_seq: number; last_seq: number }> {
    const { state } = await this.jsm.streams.info(this.dlqStream);
    return {
      held: state.messages,
      bytes: state.bytes,
      dead_lettered: state.last_seq,
      first_seq: state.first_seq,
      last_seq: state.last_seq,
    };
  }

  /** The first message at or after `seq` (of `topic`, if given), or undefined. */
  private async next(seq: number, topic?: string): Promise<StoredMsg | undefined> {
    try {
      // nats-server's STREAM.MSG.GET takes next_by_subj (the first match at or after seq); the
      // client's type lists it for direct gets only, which the dead-letter stream does not allow.
      const query = { seq, next_by_subj: this.filter(topic) } as unknown as MsgRequest;
      return (await this.jsm.streams.getMessage(this.dlqStream, query)) ?? undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Up to `limit` dead letters from sequence `from` on, oldest first; `next` is where the following page starts. */
  async list(opts: { from?: number; limit: number; topic?: string }): Promise<{ items: DeadLetter[]; next: number | undefined }> {
    const items: DeadLetter[] = [];
    let seq = Math.max(1, opts.from ?? 1);
    for (;;) {
      const m = await this.next(seq, opts.topic);
      if (!m) return { items, next: undefined };
      if (items.length === opts.limit) return { items, next: m.seq };
      items.push(toDeadLetter(this.stream, m));
      seq = m.seq + 1;
    }
  }

  async show(seq: number): Promise<DeadLetter | undefined> {
    const m = await this.get(seq);
    return m && toDeadLetter(this.stream, m);
  }

  private async get(seq: number): Promise<StoredMsg | undefined> {
    try {
      return (await this.jsm.streams.getMessage(this.dlqStream, { seq })) ?? undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * The selected dead letters, oldest first. Only those held when it starts: a replayed message
   * that is dead-lettered again meanwhile gets a new sequence past that point and is not taken
   * again (a loop otherwise).
   */
  private async *select(sel: Selection): AsyncGenerator<StoredMsg> {
    if ('seq' in sel) {
      const m = await this.get(sel.seq);
      if (m) yield m;
      return;
    }
    const { last_seq } = await this.counts();
    const topic = 'topic' in sel ? sel.topic : undefined;
    for (let seq = 1; seq <= last_seq;) {
      const m = await this.next(seq, topic);
      if (!m || m.seq > last_seq) return;
      yield m;
      seq = m.seq + 1;
    }
  }

  /**
   * Publishes each selected dead letter again to `events.<topic>` (the normal path: the consumer
   * stores it, or counts it as a duplicate), and deletes it from the dead-letter stream only once
   * the event stream acknowledged the copy. A fresh Nats-Msg-Id each time: the original's may
   * still be in the broker's dedup window, which would swallow the replay. PostgreSQL's
   * UNIQUE(topic, event_id) keeps a replay exact however often it is repeated (an interruption
   * between the publish and the delete leaves the dead letter in place; replaying it again is
   * harmless). A message that does not decode would only be dead-lettered again: it is skipped.
   * `keep`: leave the dead letters in place after their replay.
   */
  async replay(
    sel: Selection,
    opts: { keep?: boolean; onEach?: (r: ReplayResult) => void } = {},
  ): Promise<{ replayed: number; skipped: number; notFound: boolean }> {
    let replayed = 0;
    let skipped = 0;
    let seen = 0;
    for await (const m of this.select(sel)) {
      seen++;
      const decoded = decodeDelivery(m.seq, m.data);
      if (!decoded.ok) {
        skipped++;
        opts.onEach?.({ seq: m.seq, replayed: false, why: `does not decode (${decoded.reason}): a replay would be dead-lettered again` });
        continue;
      }
      const h = headers();
      // Audit trail on the event stream; the consumer ignores it.
      h.set('Dlq-Replay-Of', `${this.dlqStream}:${m.seq}`);
      const ack = await this.js.publish(subjectFor(decoded.delivery.event.topic), m.data, {
        headers: h,
        msgID: `replay:${randomUUID()}`,
        expect: { streamName: this.stream },
        timeout: this.publishTimeoutMs,
      });
      if (!opts.keep) await this.jsm.streams.deleteMessage(this.dlqStream, m.seq, false);
      replayed++;
      opts.onEach?.({
        seq: m.seq,
        replayed: true,
        stream_seq: ack.seq,
        topic: decoded.delivery.event.topic,
        event_id: decoded.delivery.event.event_id,
      });
    }
    return { replayed, skipped, notFound: 'seq' in sel && seen === 0 };
  }

  /** Deletes the selected dead letters without replaying them; returns how many. */
  async purge(sel: Selection): Promise<number> {
    if ('seq' in sel) {
      try {
        return (await this.jsm.streams.deleteMessage(this.dlqStream, sel.seq, false)) ? 1 : 0;
      } catch (err) {
        if ((err instanceof JetStreamApiError && err.code === MSG_DELETE_FAILED) || isNotFound(err)) return 0;
        throw err;
      }
    }
    const res = await this.jsm.streams.purge(this.dlqStream, 'topic' in sel ? { filter: this.filter(sel.topic) } : undefined);
    return res.purged;
  }
}

export type ReplayResult =
  { seq: number; replayed: true; stream_seq: number; topic: string; event_id: string } | { seq: number; replayed: false; why: string };
