import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUtc, normaliseTimestamp } from '../../shared/timestamp.ts';

const ok = (text: string) => {
  const r = normaliseTimestamp(text);
  if (!r.ok) throw new Error(`${text}: ${r.message}`);
  return r.value;
};
const refused = (text: string) => {
  const r = normaliseTimestamp(text);
  return r.ok ? `accepted as ${r.value}` : r.message;
};

describe('normaliseTimestamp', () => {
  it("takes Python's naive isoformat() as UTC and keeps its microseconds", () => {
    expect(ok('2026-11-27T06:00:00.123456')).toBe('2026-11-27T06:00:00.123456Z');
    expect(ok('2026-11-27T06:00:00')).toBe('2026-11-27T06:00:00Z');
  });

  it('normalises offsets to UTC, across day, month and year boundaries', () => {
    expect(ok('2026-11-26T10:00:00+02:00')).toBe('2026-11-26T08:00:00Z');
    expect(ok('2026-01-01T00:30:00+05:30')).toBe('2025-12-31T19:00:00Z');
    expect(ok('2026-12-31T23:00:00-23:59')).toBe('2027-01-01T22:59:00Z');
    expect(ok('2024-02-28T23:59:59.5-01:00')).toBe('2024-02-29T00:59:59.500000Z');
    expect(ok('2026-11-26t10:00:00z')).toBe('2026-11-26T10:00:00Z');
  });

  it('truncates fractions of up to 9 digits to microseconds and drops a zero fraction', () => {
    expect(ok('2026-11-26T10:00:00.123456789Z')).toBe('2026-11-26T10:00:00.123456Z');
    expect(ok('2026-11-26T10:00:00.1Z')).toBe('2026-11-26T10:00:00.100000Z');
    expect(ok('2026-11-26T10:00:00.0000009Z')).toBe('2026-11-26T10:00:00Z');
    expect(refused('2026-11-26T10:00:00.1234567890Z')).toMatch(/RFC 3339/);
  });

  it('accepts years 0001-9999 after normalising, and nothing outside', () => {
    expect(ok('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00Z');
    expect(ok('9999-12-31T23:59:59.999999Z')).toBe('9999-12-31T23:59:59.999999Z');
    expect(ok('0099-06-01T00:00:00Z')).toBe('0099-06-01T00:00:00Z');
    expect(refused('0000-06-01T00:00:00Z')).toMatch(/0001-9999/);
    expect(refused('0001-01-01T00:00:00+00:01')).toMatch(/0001-9999/);
    expect(refused('9999-12-31T23:59:59-00:01')).toMatch(/0001-9999/);
    // The range is the UTC one: a local year 0000 that is 0001 in UTC is fine.
    expect(ok('0000-12-31T23:30:00-01:00')).toBe('0001-01-01T00:30:00Z');
  });

  it('rolls a leap second into the next minute, as PostgreSQL does', () => {
    expect(ok('2016-12-31T23:59:60Z')).toBe('2017-01-01T00:00:00Z');
    // At any minute, as PostgreSQL takes it.
    expect(ok('2026-11-27T10:15:60.5Z')).toBe('2026-11-27T10:16:00.500000Z');
  });

  it.each([
    '2026-11-26',
    '2026-11-26 10:00:00Z',
    '2026-11-26T10:00Z',
    '2026-11-26T10:00:00+0530',
    '2026-11-26T10:00:00+05',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-26T24:00:00Z',
    '2026-11-26T10:60:00Z',
    '2026-11-26T10:00:61Z',
    '2026-11-26T10:00:00+24:00',
    '2026-11-26T10:00:00+05:60',
    '+12026-11-26T10:00:00Z',
    ' 2026-11-26T10:00:00Z',
    '2026-11-26T10:00:00Z\n',
    'yesterday',
  ])('refuses %j', (text) => {
    expect(normaliseTimestamp(text).ok).toBe(false);
  });

  it('agrees with Date for every instant Date can represent to the millisecond (property)', () => {
    const min = Date.UTC(1, 0, 1) + 86_400_000;
    const max = Date.UTC(9999, 11, 31) - 86_400_000;
    fc.assert(
      fc.property(fc.integer({ min, max }), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), (ms, offset) => {
        const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
        const sign = offset < 0 ? '-' : '+';
        const abs = Math.abs(offset);
        const text = `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const expected = new Date(ms).toISOString();
        const millis = expected.slice(20, 23);
        expect(ok(text)).toBe(millis === '000' ? expected.replace('.000Z', 'Z') : expected.replace(/\.(\d{3})Z$/, '.$1000Z'));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('normaliseTimestamp: the UTC fast path', () => {
  // Text already in UTC takes a path of its own (no regular expression, no day arithmetic); the
  // same text with an explicit +00:00 takes the general one. Both must agree, refusals included.
  // Fields a little past their ranges, so that refusals (month 13, day 32, second 60, year 0000) come up too.
  const field = (min: number, max: number, width: number) => fc.integer({ min, max }).map((n) => String(n).padStart(width, '0'));
  const fraction = fc.tuple(fc.integer({ min: 1, max: 10 }), fc.nat()).map(([len, n]) => String(n).padStart(len, '0').slice(-len));
  const text = fc
    .tuple(
      field(0, 9999, 4),
      field(0, 13, 2),
      field(0, 32, 2),
      field(0, 24, 2),
      field(0, 60, 2),
      field(0, 61, 2),
      fc.option(fraction),
      fc.constantFrom('', 'Z'),
    )
    .map(([y, mo, d, h, mi, s, frac, z]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${frac === null ? '' : `.${frac}`}${z}`);

  it('gives what the general path gives for the same instant (property)', () => {
    fc.assert(
      fc.property(text, (t) => {
        const fast = normaliseTimestamp(t);
        const general = normaliseTimestamp(`${t.replace(/Z$/, '')}+00:00`);
        // A refusal quotes the text it refuses, which differs by the offset: compare the outcome.
        expect(fast.ok ? fast.value : 'refused').toBe(general.ok ? general.value : 'refused');
      }),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ['2026-11-26T10:00:00Z', '2026-11-26T10:00:00Z'],
    ['2026-11-26T10:00:00.5', '2026-11-26T10:00:00.500000Z'],
    ['2026-11-26T10:00:00.1234567Z', '2026-11-26T10:00:00.123456Z'],
    ['2024-02-29T23:59:59.000Z', '2024-02-29T23:59:59Z'],
  ])('%s → %s', (t, expected) => expect(normaliseTimestamp(t)).toEqual({ ok: true, value: expected }));
});

describe('formatUtc', () => {
  it('pads years below 1000 to four digits', () => {
    expect(formatUtc(Date.UTC(2000, 0, 1) / 1000, 0)).toBe('2000-01-01T00:00:00Z');
    expect(formatUtc(-62_135_596_800, 7)).toBe('0001-01-01T00:00:00.000007Z');
  });
});
