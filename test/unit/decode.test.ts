import { describe, expect, it } from 'vitest';
import { decodeDelivery } from '../../shared/decode.ts';
import { acceptAndEncode } from '../../shared/validate-event.ts';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ev = { topic: 't', event_id: '1', timestamp: '2026-11-26T10:00:00Z' };
const at = '2026-11-26T10:00:01.000Z';

describe('decodeDelivery', () => {
  it('decodes an event with its acceptance time', () => {
    const json = JSON.stringify({ ...ev, source: null, payload: { a: 1 }, received_at: at });
    const r = decodeDelivery(5, enc(json));
    expect(r).toEqual({ ok: true, delivery: { seq: 5, event: { topic: 't', event_id: '1' }, receivedAt: new Date(at), json } });
  });

  it('takes every message ingest publishes', () => {
    const sent = [
      { ...ev, timestamp: '2026-11-27T06:00:00.123456' },
      { ...ev, timestamp: '2026-11-27T08:00:00.5+02:00', source: 'svc', payload: [1, 'x', { y: null }] },
      { ...ev, event_id: 'é'.repeat(255), timestamp: '0001-01-01T00:00:00Z', payload: 'text' },
      // 255 characters as ingest's schema counts them (code points), 510 UTF-16 units.
      { ...ev, event_id: '😀'.repeat(255), source: '𝄞'.repeat(255) },
    ];
    for (const e of sent) {
      const published = acceptAndEncode(e, undefined, 1 << 20, { received_at: at });
      expect(published.ok).toBe(true);
      expect(decodeDelivery(1, enc(published.ok ? published.json : '')).ok).toBe(true);
    }
  });

  // What else may publish on the stream (the admin NATS user, a NATS without authorisation) is held
  // to what ingest publishes: PostgreSQL's jsonb_to_recordset would otherwise drop, coerce or
  // reinterpret it without an error.
  it.each([
    ['not JSON', '{'],
    ['not an object', '[1]'],
    ['no received_at', ev],
    ['a topic that is no subject token', { ...ev, topic: 'a b', received_at: at }],
    ['a topic over 255 characters', { ...ev, topic: 'a'.repeat(256), received_at: at }],
    ['no topic', { event_id: '1', timestamp: ev.timestamp, received_at: at }],
    ['an empty event_id', { ...ev, event_id: '', received_at: at }],
    ['an event_id over 255 characters', { ...ev, event_id: 'x'.repeat(256), received_at: at }],
    ['an event_id over 255 code points', { ...ev, event_id: '😀'.repeat(256), received_at: at }],
    ['an event_id with a newline', { ...ev, event_id: 'a\nb', received_at: at }],
    ['no timestamp', { topic: 't', event_id: '1', received_at: at }],
    ['a timestamp with an offset', { ...ev, timestamp: '2026-11-26T10:00:00+02:00', received_at: at }],
    ['a timestamp without an offset', { ...ev, timestamp: '2026-11-26T10:00:00', received_at: at }],
    ['a timestamp PostgreSQL reads as a word', { ...ev, timestamp: 'infinity', received_at: at }],
    ['nanoseconds', { ...ev, timestamp: '2026-11-26T10:00:00.123456789Z', received_at: at }],
    ['a source that is a number', { ...ev, source: 42, received_at: at }],
    ['an unknown field', { ...ev, paylod: { a: 1 }, received_at: at }],
    ['a NUL in the payload', { ...ev, payload: { a: 'x\u0000y' }, received_at: at }],
    ['a number beyond a double', `{"topic":"t","event_id":"1","timestamp":"2026-11-26T10:00:00Z","payload":1e400,"received_at":"${at}"}`],
  ])('refuses %s with a reason', (_what, data) => {
    const r = decodeDelivery(1, enc(data));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).not.toBe('');
  });
});
