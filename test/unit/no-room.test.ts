import { describe, expect, it } from 'vitest';
import { isNoRoom } from '../../apps/ingest/event-publisher.ts';
import { JetStreamRefusalError, PubAckTimeoutError } from '../../apps/ingest/pipelined-publisher.ts';

// The PubAck errors nats-server (2.12 to 2.15: the same codes) sends when a stream or its file
// store has no room, against those that mean something else.
describe('isNoRoom', () => {
  it('is true for the stream at max_bytes (discard New) and for a full file store', () => {
    expect(isNoRoom(new JetStreamRefusalError(503, 10077, 'maximum bytes exceeded'))).toBe(true);
    expect(isNoRoom(new JetStreamRefusalError(503, 10077, 'maximum messages exceeded'))).toBe(true);
    expect(isNoRoom(new JetStreamRefusalError(503, 10023, 'insufficient resources'))).toBe(true);
  });

  it('is false for other store failures, other refusals and timeouts', () => {
    expect(isNoRoom(new JetStreamRefusalError(503, 10077, 'message size exceeds maximum allowed'))).toBe(false);
    expect(isNoRoom(new JetStreamRefusalError(400, 10158, 'duplicate message id is in process'))).toBe(false);
    expect(isNoRoom(new PubAckTimeoutError('no PubAck within 5000 ms'))).toBe(false);
  });
});
