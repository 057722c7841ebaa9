import { describe, expect, it } from 'vitest';
import { decodeMessage, rowsToInsert, type Delivery } from '../../apps/consumer/decode.ts';

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

const d = (seq: number, topic: string, id: string): Delivery => ({
  seq,
  event: { topic, event_id: id, timestamp: ev.timestamp },
  receivedAt: new Date(0),
  json: '',
});

describe('rowsToInsert', () => {
  it('keeps one delivery per (topic, event_id), the earliest sequence, sorted by key', () => {
    const rows = rowsToInsert([d(9, 'b', '1'), d(3, 'a', '2'), d(7, 'a', '1'), d(2, 'a', '1'), d(4, 'b', '1')]);
    expect(rows.map((r) => [r.event.topic, r.event.event_id, r.seq])).toEqual([
      ['a', '1', 2],
      ['a', '2', 3],
      ['b', '1', 4],
    ]);
  });

  it('orders keys the same whatever the input order (what prevents deadlocks)', () => {
    const a = [d(1, 'x', 'b'), d(2, 'x', 'a'), d(3, 'w', 'z')];
    expect(rowsToInsert(a).map((r) => r.seq)).toEqual(rowsToInsert([...a].reverse()).map((r) => r.seq));
  });
});
