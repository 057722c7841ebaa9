import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEncodedEvent, validateEvent } from '../../shared/validate-event.ts';

const ok = { topic: 'a.b-c_d', event_id: 'x', timestamp: '2026-11-26T10:00:00.123+05:30' };

describe('validateEvent', () => {
  it('accepts a minimal and a full event', () => {
    expect(validateEvent(ok)).toEqual([]);
    expect(validateEvent({ ...ok, source: 's', payload: [1, { a: null }] })).toEqual([]);
  });

  it('names every missing field, with the batch index when given', () => {
    expect(validateEvent({}, 3)).toEqual([
      { index: 3, field: 'topic', message: 'is required' },
      { index: 3, field: 'event_id', message: 'is required' },
      { index: 3, field: 'timestamp', message: 'is required' },
    ]);
  });

  it.each(['', '*', 'a.>', 'a b', 'a..b', 'a.', '.a', 'é', 'a/b', 'x'.repeat(256)])('rejects topic %j', (topic) => {
    expect(validateEvent({ ...ok, topic }).map((e) => e.field)).toContain('topic');
  });

  it.each(['2026-11-26', '2026-11-26T10:00:00', '2026-11-26 10:00:00', 'now', '2026-02-30T00:00:00Z', 1700000000])(
    'rejects timestamp %j',
    (timestamp) => {
      expect(validateEvent({ ...ok, timestamp }).map((e) => e.field)).toContain('timestamp');
    },
  );

  it('accepts the space separator RFC 3339 allows, and lowercase t/z', () => {
    expect(validateEvent({ ...ok, timestamp: '2026-11-26 10:00:00Z' })).toEqual([]);
    expect(validateEvent({ ...ok, timestamp: '2026-11-26t10:00:00z' })).toEqual([]);
  });

  it('rejects non-objects and unknown fields', () => {
    expect(validateEvent(null)[0]).toMatchObject({ field: '', message: 'must be a JSON object' });
    expect(validateEvent([ok])[0]).toMatchObject({ message: 'must be a JSON object' });
    expect(validateEvent({ ...ok, __proto__x: 1 })[0]).toMatchObject({ field: '__proto__x' });
  });

  it('accepts every subject-safe topic and never throws on arbitrary input (property)', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 8 }), (tokens) => {
        expect(validateEvent({ ...ok, topic: tokens.join('.') })).toEqual([]);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const errors = validateEvent(v);
        expect(Array.isArray(errors)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('checkEncodedEvent', () => {
  it('enforces the byte size, counting UTF-8 bytes', () => {
    expect(checkEncodedEvent('"ab"', 4)).toEqual([]);
    expect(checkEncodedEvent('"é"', 3)[0]).toMatchObject({ field: 'payload', message: expect.stringMatching(/4 bytes/) });
  });

  it('finds an escaped NUL but not an escaped backslash followed by u0000', () => {
    expect(checkEncodedEvent(JSON.stringify({ a: 'x\u0000' }), 1e6)).toHaveLength(1);
    expect(checkEncodedEvent(JSON.stringify({ a: '\\u0000' }), 1e6)).toEqual([]);
    expect(checkEncodedEvent(JSON.stringify({ a: '\\\u0000' }), 1e6)).toHaveLength(1);
  });
});
