import type { JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { streamSequenceOf } from '../../apps/consumer/ack-subject.ts';

/** A message as the client hands it over: `seq` is the client's own parse of the reply subject. */
const msg = (reply: string, seq = -1) => ({ reply, seq }) as unknown as JsMsg;

describe('streamSequenceOf', () => {
  it('reads the stream sequence of the ack subject nats-server sends', () => {
    expect(streamSequenceOf(msg('$JS.ACK.EVENTS.event-writer.1.4711.12.1765100000123456789.3'))).toBe(4711);
    expect(streamSequenceOf(msg('$JS.ACK.EVENTS.event-writer.3.9007199254740991.7.1765100000123456789.0'))).toBe(9007199254740991);
  });

  it('reads the longer form, with a domain, an account hash and a random token', () => {
    expect(streamSequenceOf(msg('$JS.ACK.hub.ACCHASH.EVENTS.event-writer.2.815.40.1765100000123456789.0.r4nd0m'))).toBe(815);
    expect(streamSequenceOf(msg('$JS.ACK._.ACCHASH.EVENTS.event-writer.2.816.40.1765100000123456789.0'))).toBe(816);
  });

  it("falls back to the client's parser for anything else", () => {
    expect(streamSequenceOf(msg('$JS.ACK.EVENTS.event-writer.1.x.12.1765100000123456789.3', 9))).toBe(9);
    expect(streamSequenceOf(msg('_INBOX.abc.def', 10))).toBe(10);
    expect(streamSequenceOf(msg('$JS.ACK.EVENTS.event-writer.1.0.12.1765100000123456789.3', 11))).toBe(11);
    expect(streamSequenceOf({ seq: 12 } as unknown as JsMsg)).toBe(12);
  });
});
