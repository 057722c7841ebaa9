import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BodyScan, MAX_JSON_DEPTH } from '../../apps/ingest/body-scan.ts';
import { acceptAndEncode } from '../../shared/validate-event.ts';

const limits = { maxBatchSize: 10, maxEventBytes: 1024 };
/** The scan's verdict on `text` fed in chunks of `size` bytes. */
function scan(text: string, size = 7) {
  const s = new BodyScan(limits);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) {
    const refused = s.push(bytes.subarray(i, i + size));
    if (refused) return refused;
  }
  return undefined;
}
const event = (payload: unknown = {}) => ({ topic: 't', event_id: '1', timestamp: '2026-11-26T10:00:00Z', payload });

describe('BodyScan', () => {
  it.each([
    ['nesting one deeper than the limit', '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1), 'JSON_TOO_DEEP'],
    ['a root batch of 11 empty arrays', `[${Array(11).fill('[]').join(',')}]`, 'INVALID_BATCH'],
    ['an "events" batch of 11', JSON.stringify({ events: Array(11).fill(event()) }), 'INVALID_BATCH'],
    ['one event with 1,100 structural bytes', JSON.stringify(event(Array(550).fill([]))), 'EVENT_TOO_LARGE'],
    ['a batch whose third event is too large', JSON.stringify([event(), event(), event(Array(550).fill([]))]), 'EVENT_TOO_LARGE'],
  ])('refuses %s', (_what, text, code) => {
    expect(scan(text)?.code).toBe(code);
  });

  it('names the event too large in a batch', () => {
    expect(scan(JSON.stringify([event(), event(), event(Array(550).fill([]))]))?.errors).toEqual([
      { index: 2, field: 'payload', message: 'must be at most 1024 bytes encoded' },
    ]);
  });

  it.each([
    ['a batch at the limit', JSON.stringify(Array(10).fill(event()))],
    ['brackets, quotes and commas inside strings', JSON.stringify(event({ s: '[[[[,,,,"""' + '['.repeat(5_000) }))],
    ['whitespace and escapes, however many', `[ ${JSON.stringify(event({ s: 'x' }))}${' '.repeat(50_000)} ]`],
    ['an "events" key that is a value, not a batch', JSON.stringify({ ...event(), source: 'events' })],
  ])('lets through %s', (_what, text) => {
    expect(scan(text, 3)).toBeUndefined();
  });

  it('never refuses an event whose encoding fits MAX_EVENT_BYTES (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 1, max: 64 }), (payload, chunk) => {
        const accepted = acceptAndEncode(event(payload), undefined, limits.maxEventBytes, { received_at: new Date().toISOString() });
        if (!accepted.ok) return;
        expect(scan(JSON.stringify(event(payload), null, 2), chunk)).toBeUndefined();
        expect(scan(JSON.stringify([event(payload)]), chunk)).toBeUndefined();
      }),
      { numRuns: 2_000 },
    );
  });
});
