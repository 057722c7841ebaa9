import { describe, expect, it } from 'vitest';
import { atRef, DEFAULT_MODES, modeNamed, MODES } from '../../scripts/bench/modes.ts';
import { parseBenchArgs } from '../../scripts/bench/options.ts';

describe('bench flags (scripts/bench/options.ts)', () => {
  it('keeps the defaults of `npm run bench` without flags', () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ runs: 5, events: 20_000, out: 'bench/RESULTS.md', statsTopics: 10_000, prefill: 0, reads: 0, against: [] });
    expect(o.modes).toEqual(DEFAULT_MODES.split(','));
    expect(o.modes.every((m) => MODES[m])).toBe(true);
  });

  it('takes --against more than once, and the other flags as numbers and lists', () => {
    const o = parseBenchArgs([
      '--against',
      'HEAD~3',
      '--against=c5b95be',
      '--modes',
      'batched,single',
      '--runs',
      '2',
      '--node-flags=--a  --b',
    ]);
    expect(o.against).toEqual(['HEAD~3', 'c5b95be']);
    expect(o.modes).toEqual(['batched', 'single']);
    expect(o.runs).toBe(2);
    expect(o.nodeFlags).toEqual(['--a', '--b']);
  });

  it('refuses counts that are not whole numbers in range, naming the flag', () => {
    expect(() => parseBenchArgs(['--runs', '0'])).toThrow(/--runs/);
    expect(() => parseBenchArgs(['--events', '1e3.5'])).toThrow(/--events/);
    expect(() => parseBenchArgs(['--prefill', '-1'])).toThrow(/--prefill/);
    expect(() => parseBenchArgs(['--stats-topics', 'many'])).toThrow(/--stats-topics/);
  });

  it('refuses --against with --prefill, refs that would break mode names, and unknown flags', () => {
    expect(() => parseBenchArgs(['--against', 'main', '--prefill', '1000'])).toThrow(/cannot be combined/);
    expect(() => parseBenchArgs(['--against', 'a+B=1'])).toThrow(/--against a\+B=1/);
    expect(() => parseBenchArgs(['--against', 'a,b'])).toThrow(/--against/);
    expect(() => parseBenchArgs(['--baseline'])).toThrow();
  });

  it('takes PostgreSQL settings as NAME=VALUE, repeated, and refuses anything else', () => {
    expect(parseBenchArgs([]).pgSettings).toEqual({});
    expect(parseBenchArgs(['--pg-setting', 'shared_buffers=4GB', '--pg-setting', 'wal_compression=on']).pgSettings).toEqual({
      shared_buffers: '4GB',
      wal_compression: 'on',
    });
    expect(() => parseBenchArgs(['--pg-setting', 'shared_buffers'])).toThrow(/NAME=VALUE/);
    expect(() => parseBenchArgs(['--pg-setting', 'shared_buffers=4GB -c fsync=off'])).toThrow(/NAME=VALUE/);
  });
});

describe('bench modes (scripts/bench/modes.ts)', () => {
  it('has no mode called baseline: the per-event mode is named for what it does', () => {
    expect(MODES.baseline).toBeUndefined();
    expect(modeNamed('per-event').consumerEnv).toEqual({ PERSIST_MODE: 'per-event', CONSUMER_CONCURRENCY: '1' });
    expect(() => modeNamed('baseline')).toThrow(/unknown mode baseline/);
  });

  it('sets a variant for both apps, keeping the consumer settings of its mode', () => {
    const m = modeNamed('per-event+BATCH_LINGER_MS=50');
    expect(m.name).toBe('per-event+BATCH_LINGER_MS=50');
    expect(m.appEnv).toEqual({ BATCH_LINGER_MS: '50' });
    expect(m.consumerEnv).toEqual({ PERSIST_MODE: 'per-event', CONSUMER_CONCURRENCY: '1', BATCH_LINGER_MS: '50' });
    expect(() => modeNamed('single+lower=1')).toThrow(/not NAME=VALUE/);
  });

  it("names a mode on another commit's build <mode>@<ref>, and has no floor mode there", () => {
    const m = atRef(modeNamed('single+BATCH_LINGER_MS=50'), 'HEAD~3');
    expect(m).toMatchObject({ name: 'single+BATCH_LINGER_MS=50@HEAD~3', ref: 'HEAD~3', batchSize: 1, appEnv: { BATCH_LINGER_MS: '50' } });
    expect(atRef(MODES.floor!, 'HEAD~3')).toBeUndefined();
  });
});
