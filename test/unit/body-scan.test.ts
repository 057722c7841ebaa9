import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BatchText } from '../../apps/ingest/batch-text.ts';
import { BodyScan, MAX_JSON_DEPTH } from '../../apps/ingest/body-scan.ts';
import { acceptAndEncode } from '../../shared/validate-event.ts';

const limits = { maxBatchSize: 10, maxEventBytes: 1024 };
/** The scan of `text` fed in chunks of `size` bytes: its refusal, or the batch's bounds. */
function scanned(text: string, size = 7) {
  const s = new BodyScan(limits);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) {
    const refused = s.push(bytes.subarray(i, i + size));
    if (refused) return { refused };
  }
  return { refused: s.end(), bounds: s.batch() };
}
const scan = (text: string, size = 7) => scanned(text, size).refused;
/** The events of a batch as the route will parse them. */
const events = (text: string) => {
  const bounds = scanned(text).bounds;
  return bounds && new BatchText(Buffer.from(text), bounds);
};
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

  it('finds the events of a batch, as an array or as {"events": [...]} alone, wherever the chunks end', () => {
    const batch = [event(), { ...event(), s: 'a,b]"[' }, 5];
    for (const text of [JSON.stringify(batch), ` { "events" : ${JSON.stringify(batch, null, 2)} } `]) {
      for (const size of [1, 3, 64]) {
        const b = scanned(text, size).bounds;
        const lazy = b && new BatchText(Buffer.from(text), b);
        expect(lazy?.length).toBe(3);
        expect([0, 1, 2].map((i) => lazy!.event(i))).toEqual(batch);
      }
    }
    expect(events('[]')?.length).toBe(0);
    expect(events('[ ]')?.length).toBe(0);
  });

  it.each([
    ['a single event', JSON.stringify(event())],
    ['"events" beside other members', JSON.stringify({ events: [event()], x: 1 })],
    ['garbage before the batch', `x${JSON.stringify([event()])}`],
    ['a scalar beside "events"', '{"events":[1] 2}'],
  ])('parses %s whole', (_what, text) => {
    expect(events(text)).toBeUndefined();
  });

  it.each([
    ['trailing garbage', '[1,2] x'],
    ['a second value', '[1] [2]'],
    ['a body cut short', '[{"a":[1,2'],
    ['a string cut short', '["abc'],
  ])('refuses %s as invalid JSON before parsing', (_what, text) => {
    expect(scan(text)?.message).toMatch(/not valid JSON/);
  });

  it('holds a root object with "events" and other members to one event\'s size', () => {
    const heavy = Array(5).fill(Array(200).fill([]));
    expect(scan(JSON.stringify({ topic: 't', events: heavy }))?.code).toBe('EVENT_TOO_LARGE');
    expect(scan(JSON.stringify({ events: heavy }))).toBeUndefined();
  });
});
