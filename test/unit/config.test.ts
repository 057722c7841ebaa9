import { describe, expect, it } from 'vitest';
import { loadConsumerConfig, loadIngestConfig } from '../../shared/config.ts';

const base = { DATABASE_URL: 'postgresql://u@h/db' };

describe('config from env', () => {
  it('applies documented defaults', () => {
    const c = loadIngestConfig(base);
    expect(c).toMatchObject({ PORT: 8080, MAX_BATCH_SIZE: 1000, MAX_EVENT_BYTES: 65_536, NATS_URL: 'nats://127.0.0.1:4222', STREAM_NAME: 'EVENTS' });
    expect(loadConsumerConfig(base)).toMatchObject({ PORT: 9090, BATCH_SIZE: 500, PERSIST_MODE: 'batch' });
  });

  it('coerces numbers from strings', () => {
    expect(loadIngestConfig({ ...base, PORT: '9000' }).PORT).toBe(9000);
  });

  it.each([
    [{}, /DATABASE_URL/],
    [{ ...base, DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ ...base, PORT: 'eighty' }, /PORT/],
    [{ ...base, PORT: '70000' }, /PORT/],
    [{ ...base, MAX_BATCH_SIZE: '0' }, /MAX_BATCH_SIZE/],
    [{ ...base, LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ ...base, STREAM_NAME: 'a.b' }, /STREAM_NAME/],
  ])('refuses %j with an error naming the variable', (env, name) => {
    expect(() => loadIngestConfig(env)).toThrow(name);
  });

  it('refuses an unknown persist mode', () => {
    expect(() => loadConsumerConfig({ ...base, PERSIST_MODE: 'fast' })).toThrow(/PERSIST_MODE/);
  });
});
