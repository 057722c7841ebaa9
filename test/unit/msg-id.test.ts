// The Nats-Msg-Id is JetStream's dedup key: a replica of the next release must compute the same id
// for the same event as one of this release during a rolling upgrade, or a client's retry across
// the upgrade would be stored by the stream twice (the database would still drop it).
import { describe, expect, it } from 'vitest';
import { msgIdFor } from '../../shared/event.ts';

describe('msgIdFor', () => {
  it('is the base64url SHA-256 of ["topic","event_id"], unchanged across releases', () => {
    expect(msgIdFor({ topic: 'orders', event_id: 'evt-1' })).toBe('E9F4L8gdHJpV1MElMRyyznBS2u_R8PG3WNuG8e23bOE');
  });

  it('tells apart what a separator-joined key would not, and keeps trailing spaces', () => {
    expect(msgIdFor({ topic: 'a.b', event_id: 'c' })).not.toBe(msgIdFor({ topic: 'a', event_id: 'b.c' }));
    expect(msgIdFor({ topic: 'orders', event_id: 'order-42 ' })).not.toBe(msgIdFor({ topic: 'orders', event_id: 'order-42' }));
  });
});
