import { describe, expect, it } from 'vitest';
import { jsonDepth } from '../../apps/ingest/plugins/json-body.ts';

describe('jsonDepth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['[[{"a":[1]}]]', 4],
    ['{"s":"[[[[{{{{"}', 1],
    ['{"s":"\\"[[["}', 1],
    ['['.repeat(1000) + ']'.repeat(1000), 1000],
  ])('%s → %i', (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });
});
