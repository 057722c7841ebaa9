import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../shared/decode.ts';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ev = { topic: 't', event_id: '1', timestamp: '2026-11-26T10:00:00Z' };

describe('decodeMessage', () => {
  it('decodes an event with its acceptance time', () => {
    const json = JSON.stringify({ ...ev, received_at: '2026-11-26T10:00:01.000Z' });
    const r = decodeMessage(5, enc(json));
    expect(r).toEqual({ ok: true, delivery: { seq: 5, event: ev, receivedAt: new Date('2026-11-26T10:00:01.000Z'), json } });
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[1]'],
    ['an invalid event', { ...ev, topic: 'a b', received_at: '2026-11-26T10:00:01Z' }],
    ['no received_at', ev],
  ])('refuses %s with a reason', (_what, data) => {
    const r = decodeMessage(1, enc(data));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).not.toBe('');
  });
});
