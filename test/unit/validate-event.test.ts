import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acceptAndEncode, acceptEvent, checkEncodedEvent } from '../../shared/validate-event.ts';
import { validateEvent } from './event-errors.ts';

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

  it.each(['2026-11-26', '2026-11-26 10:00:00', '2026-11-26 10:00:00Z', 'now', '2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z', 1700000000])(
    'rejects timestamp %j',
    (timestamp) => {
      expect(validateEvent({ ...ok, timestamp }).map((e) => e.field)).toContain('timestamp');
    },
  );

  it('returns the event with its timestamp normalised to UTC; no offset means UTC', () => {
    expect(acceptEvent({ ...ok, timestamp: '2026-11-27T06:00:00.123456' })).toEqual({
      ok: true,
      event: { ...ok, timestamp: '2026-11-27T06:00:00.123456Z' },
    });
    expect(acceptEvent(ok)).toEqual({ ok: true, event: { ...ok, timestamp: '2026-11-26T04:30:00.123000Z' } });
    expect(acceptEvent({ ...ok, timestamp: '2026-11-26t10:00:00z' })).toMatchObject({ ok: true });
  });

  it.each([
    ['event_id', 'line\nbreak'],
    ['event_id', 'carriage\rreturn'],
    ['event_id', 'tab\there'],
    ['event_id', 'del\u007f'],
    ['event_id', 'lone \ud800 surrogate'],
    ['source', 'nul\u0000'],
    ['source', '\udc00'],
  ])('refuses a control character or unpaired surrogate in %s (%j)', (field, value) => {
    expect(validateEvent({ ...ok, [field]: value })).toEqual([{ field, message: expect.stringMatching(/control characters.*surrogate/) }]);
  });

  it('accepts a null source like an absent one, and names only the real fault of a bad one', () => {
    expect(validateEvent({ ...ok, source: null })).toEqual([]);
    expect(validateEvent({ ...ok, source: true })).toEqual([{ field: 'source', message: 'must be string' }]);
    expect(validateEvent({ ...ok, source: 'x'.repeat(256) })).toEqual([
      { field: 'source', message: 'must NOT have more than 255 characters' },
    ]);
  });

  it('accepts any other Unicode in event_id and source, paired surrogates (emoji) included', () => {
    expect(validateEvent({ ...ok, event_id: 'order-42 ', source: 'é😀\u2028 ' })).toEqual([]);
  });

  // Payloads as the JSON text a client sends: JSON.parse is what makes \u escapes and 1e400 real.
  it.each([
    ['a NUL in a payload string', '{"a":"x\\u0000"}', 'payload.a', /NUL/],
    ['an unpaired surrogate in a payload value', '{"a":["ok","\\ud800"]}', 'payload.a.1', /surrogate/],
    ['an unpaired surrogate in a payload key', '{"ok":{"\\udfff":1}}', 'payload.ok', /key containing an unpaired/],
    ['a number that overflows to Infinity', '{"n":1e400}', 'payload.n', /IEEE double/],
    ['a number that overflows to -Infinity', '[-1e400]', 'payload.0', /IEEE double/],
  ])('refuses %s, naming where', (_what, payloadJson, field, message) => {
    expect(validateEvent({ ...ok, payload: JSON.parse(payloadJson) })).toEqual([{ field, message: expect.stringMatching(message) }]);
  });

  it('accepts a payload with paired surrogates, escapes of a backslash, and large finite numbers', () => {
    expect(validateEvent({ ...ok, payload: JSON.parse('{"e":"\\ud83d\\ude00","s":"\\\\u0000","n":1.7e308}') })).toEqual([]);
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
});

describe('acceptAndEncode', () => {
  const extra = { received_at: '2026-11-27T20:00:00.000Z' };

  it('returns the event as it travels: normalised timestamp, then the extra fields', () => {
    const accepted = acceptAndEncode({ ...ok, payload: { n: 1 } }, 2, 1_000, extra);
    expect(accepted).toEqual({
      ok: true,
      event: { ...ok, timestamp: '2026-11-26T04:30:00.123000Z', payload: { n: 1 } },
      json: JSON.stringify({ ...ok, timestamp: '2026-11-26T04:30:00.123000Z', payload: { n: 1 }, ...extra }),
    });
  });

  it('refuses an event over the limit as encoded, before looking inside its payload', () => {
    const payload = { big: 'x'.repeat(2_000), bad: 'nul\u0000' };
    expect(acceptAndEncode({ ...ok, payload }, 0, 1_000, extra)).toEqual({
      ok: false,
      errors: [{ index: 0, field: 'payload', message: expect.stringMatching(/bytes encoded; the limit is 1000/) }],
    });
    // Under the limit, the same payload's fault is found and named.
    expect(acceptAndEncode({ ...ok, payload }, 0, 10_000, extra)).toEqual({
      ok: false,
      errors: [{ index: 0, field: 'payload.bad', message: expect.stringMatching(/NUL/) }],
    });
  });

  it('names a bad timestamp and a payload fault together, as acceptEvent does', () => {
    const value = { ...ok, timestamp: 'now', payload: [[1, Infinity]] };
    const expected = [
      { field: 'timestamp', message: expect.any(String) },
      { field: 'payload.0.1', message: expect.stringMatching(/IEEE double/) },
    ];
    expect(acceptAndEncode(value, undefined, 10_000, extra)).toEqual({ ok: false, errors: expected });
    expect(validateEvent(value)).toEqual(expected);
  });
});
