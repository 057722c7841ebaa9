import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../apps/consumer/event-writer.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConsumerConfig, loadDeadLettersConfig, loadIngestConfig, parseTrustProxy } from '../../shared/config.ts';

const base = { DATABASE_URL: 'postgresql://u@h/db' };

describe('config from env', () => {
  it('applies documented defaults', () => {
    const c = loadIngestConfig(base);
    expect(c).toMatchObject({
      PORT: 8080,
      MAX_BATCH_SIZE: 1000,
      MAX_EVENT_BYTES: 65_536,
      NATS_URL: 'nats://127.0.0.1:4222',
      STREAM_NAME: 'EVENTS',
    });
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

  it('keeps stored events forever unless EVENTS_RETENTION_MS is set; refuses bad retention values naming the variable', () => {
    expect(loadConsumerConfig(base)).toMatchObject({
      EVENTS_RETENTION_MS: 0,
      RETENTION_PURGE_INTERVAL_MS: 60_000,
      RETENTION_BATCH_ROWS: 5_000,
      RETENTION_BATCH_PAUSE_MS: 100,
    });
    expect(loadConsumerConfig({ ...base, EVENTS_RETENTION_MS: '604800000' }).EVENTS_RETENTION_MS).toBe(604_800_000);
    expect(() => loadConsumerConfig({ ...base, EVENTS_RETENTION_MS: '-1' })).toThrow(/EVENTS_RETENTION_MS/);
    expect(() => loadConsumerConfig({ ...base, EVENTS_RETENTION_MS: '7d' })).toThrow(/EVENTS_RETENTION_MS/);
    expect(() => loadConsumerConfig({ ...base, RETENTION_PURGE_INTERVAL_MS: '0' })).toThrow(/RETENTION_PURGE_INTERVAL_MS/);
    expect(() => loadConsumerConfig({ ...base, RETENTION_BATCH_ROWS: '0' })).toThrow(/RETENTION_BATCH_ROWS/);
  });

  it('serves /metrics on the API port unless METRICS_ON_API_PORT=false, which needs METRICS_PORT', () => {
    expect(loadIngestConfig(base).METRICS_ON_API_PORT).toBe(true);
    expect(loadIngestConfig({ ...base, METRICS_ON_API_PORT: 'false', METRICS_PORT: '9091' }).METRICS_ON_API_PORT).toBe(false);
    expect(() => loadIngestConfig({ ...base, METRICS_ON_API_PORT: 'false' })).toThrow(/METRICS_ON_API_PORT.*METRICS_PORT/);
    expect(() => loadIngestConfig({ ...base, METRICS_ON_API_PORT: 'maybe' })).toThrow(/METRICS_ON_API_PORT/);
  });

  // Each process validates only its own variables: a shared environment (one .env, a chart's
  // extraEnv) holding the other process's settings, even invalid ones, cannot stop it.
  it("ignores the other process's variables and unknown ones, whatever their value", () => {
    const ingest = loadIngestConfig({
      ...base,
      BATCH_SIZE: 'junk',
      STREAM_REPLICAS: '99',
      CONSUMER_ACK_WAIT_MS: '-1',
      SOMETHING_ELSE: 'x',
    });
    expect(ingest).not.toHaveProperty('BATCH_SIZE');
    expect(ingest).not.toHaveProperty('STREAM_REPLICAS');
    expect(ingest).not.toHaveProperty('SOMETHING_ELSE');
    const consumer = loadConsumerConfig({ ...base, MAX_BATCH_SIZE: 'junk', TRUST_PROXY: 'localhost', REQUEST_TIMEOUT_MS: '0' });
    expect(consumer).not.toHaveProperty('MAX_BATCH_SIZE');
    expect(consumer).not.toHaveProperty('TRUST_PROXY');
    expect(consumer.STREAM_REPLICAS).toBe(1);
  });

  it('refuses an unknown persist mode', () => {
    expect(() => loadConsumerConfig({ ...base, PERSIST_MODE: 'fast' })).toThrow(/PERSIST_MODE/);
  });
});

describe('dead-letters config', () => {
  it('needs no database; reads the NATS password from NATS_PASSWORD_FILE (one trailing newline dropped)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dl-config-'));
    try {
      const file = path.join(dir, 'pw');
      writeFileSync(file, 'secret-pw\n');
      expect(loadDeadLettersConfig({})).toMatchObject({
        NATS_URL: 'nats://127.0.0.1:4222',
        STREAM_NAME: 'EVENTS',
        PUBLISH_TIMEOUT_MS: 10_000,
      });
      expect(loadDeadLettersConfig({ NATS_USER: 'dead-letters', NATS_PASSWORD_FILE: file }).NATS_PASSWORD).toBe('secret-pw');
      expect(() => loadDeadLettersConfig({ NATS_PASSWORD: 'x', NATS_PASSWORD_FILE: file })).toThrow(
        /env\/NATS_PASSWORD and env\/NATS_PASSWORD_FILE: set only one/,
      );
      expect(() => loadDeadLettersConfig({ NATS_PASSWORD_FILE: path.join(dir, 'missing') })).toThrow(
        /env\/NATS_PASSWORD_FILE: cannot read/,
      );
      writeFileSync(file, '');
      expect(() => loadDeadLettersConfig({ NATS_PASSWORD_FILE: file })).toThrow(/env\/NATS_PASSWORD_FILE: .* is empty/);
      expect(() => loadDeadLettersConfig({ PUBLISH_TIMEOUT_MS: '0' })).toThrow(/PUBLISH_TIMEOUT_MS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TRUST_PROXY', () => {
  it("is off by default and takes true or the proxies' addresses, CIDRs and named ranges", () => {
    expect(parseTrustProxy(loadIngestConfig(base).TRUST_PROXY)).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy(' 10.0.0.0/8, fd00::/8 ,192.168.1.7,loopback ')).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7', 'loopback']);
  });

  // A hop count is refused rather than accepted and ignored (Fastify 5.12 trusts no header for one).
  it.each(['1', 'yes', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/1', '10.0.0.256', '10.0.0.0/', 'localhost', '10.0.0.1,,10.0.0.2'])(
    'refuses %j naming the variable',
    (value) => {
      expect(() => loadIngestConfig({ ...base, TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
    },
  );
});

describe('retry schedule of a message PostgreSQL refused', () => {
  it('doubles from CONSUMER_RETRY_DELAY_MS up to its cap; the default 10 deliveries span tens of seconds', () => {
    const c = loadConsumerConfig(base);
    const delays = Array.from({ length: c.CONSUMER_MAX_DELIVER - 1 }, (_, i) => retryDelayMs(i + 1, c));
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]);
    expect(delays.reduce((a, b) => a + b)).toBe(55_500);
    expect(retryDelayMs(1_000, c)).toBe(10_000);
    expect(retryDelayMs(3, loadConsumerConfig({ ...base, CONSUMER_RETRY_DELAY_MS: '0' }))).toBe(0);
  });

  it('refuses a cap below the first delay', () => {
    expect(() => loadConsumerConfig({ ...base, CONSUMER_RETRY_DELAY_MS: '2000', CONSUMER_RETRY_DELAY_MAX_MS: '1000' })).toThrow(
      /CONSUMER_RETRY_DELAY_MAX_MS/,
    );
    expect(() => loadConsumerConfig({ ...base, CONSUMER_RETRY_DELAY_MS: '-1' })).toThrow(/CONSUMER_RETRY_DELAY_MS/);
  });
});
