import type { JsMsg } from '@nats-io/jetstream';

/**
 * A delivered message's stream sequence, read from its reply (ack) subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or the
 * longer form (eleven tokens or more) with `<domain>.<account hash>` after `ACK`. The same
 * token the client's `msg.seq` reads, without the object of eleven parsed fields it builds for it
 * on the first access: 0.3 instead of 1.5 µs per message here, for every message of every batch.
 * Anything else falls back to the client's own parser, as does a client whose messages stop
 * exposing `reply` (the client's class has it; its JsMsg type does not declare it).
 */
export function streamSequenceOf(msg: JsMsg): number {
  const reply = (msg as { reply?: unknown }).reply;
  if (typeof reply !== 'string') return msg.seq;
  const dots: number[] = [];
  for (let i = reply.indexOf('.'); i !== -1 && dots.length < 13; i = reply.indexOf('.', i + 1)) dots.push(i);
  const at = dots.length === 8 ? 5 : dots.length >= 10 ? 7 : -1;
  const seq = at < 0 || !reply.startsWith('$JS.ACK.') ? Number.NaN : Number(reply.slice(dots[at - 1]! + 1, dots[at]));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : msg.seq;
}
