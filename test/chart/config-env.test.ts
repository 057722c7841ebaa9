// Each container gets exactly the variables its process reads (shared/config.ts), no other
// process's, and the chart refuses values the process would refuse at start.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type App } from '../../shared/config.ts';
import { CHART, envOf, find, migrationJob, podOf, render, set, tryRender, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
// Every variable the chart can set is set with these: auth and rate limits on, the built-in PostgreSQL.
const objs = render(['-f', path.join(CHART, 'ci', 'hpa-values.yaml'), ...set({ 'deadLetters.job.enabled': true })]);

/** Variables a container holds only so that Kubernetes can expand $(VAR) in DATABASE_URL, or for the Prisma CLI's own use. */
const HELPERS: Partial<Record<App, string[]>> = {
  ingest: ['APP_DB_PASSWORD'],
  consumer: ['APP_DB_PASSWORD'],
  migrate: ['POSTGRES_PASSWORD', 'JITI_FS_CACHE', 'JITI_CACHE', 'TMPDIR'],
};

function container(app: App): Record<string, unknown> {
  const workload: K8sObject =
    app === 'migrate'
      ? migrationJob(objs)
      : app === 'dead-letters'
        ? objs.find((o) => o.kind === 'Job' && o.metadata.name.startsWith(`${F}-dead-letters-`))!
        : find(objs, 'Deployment', `${F}-${app}`);
  return envOf(podOf(workload).spec.containers[0]);
}

describe('the environment of each process', () => {
  it.each(Object.keys(SETTINGS) as App[])('%s: every variable it reads that the chart sets, and nothing else', (app) => {
    const declared = Object.entries(SETTINGS[app]);
    const expected = declared.filter(([, s]) => !('none' in s.chart)).map(([name]) => name);
    const names = Object.keys(container(app));
    expect(names.filter((n) => !expected.includes(n) && !HELPERS[app]?.includes(n))).toEqual([]);
    expect(expected.filter((n) => !names.includes(n))).toEqual([]);
  });

  it("ingest gets none of the consumer's own settings, and the consumer none of ingest's", () => {
    const ingest = container('ingest');
    const consumer = container('consumer');
    for (const name of ['STREAM_REPLICAS', 'STREAM_MAX_BYTES', 'DLQ_MAX_BYTES', 'CONSUMER_ACK_WAIT_MS', 'BATCH_SIZE', 'BATCH_LINGER_MS']) {
      expect(ingest[name], name).toBeUndefined();
    }
    for (const name of ['MAX_BATCH_SIZE', 'REQUEST_TIMEOUT_MS', 'TRUST_PROXY', 'AUTH_PUBLISH_TOKENS', 'RATE_LIMIT_MAX']) {
      expect(consumer[name], name).toBeUndefined();
    }
    expect(ingest.PORT).toBe('8080');
    expect(consumer.PORT).toBe('9090');
  });

  it('takes REQUEST_TIMEOUT_MS and BATCH_LINGER_MS from their values', () => {
    const changed = render(set({ 'ingest.requestTimeoutMs': 45_000, 'consumer.batchLingerMs': 0 }));
    expect(envOf(podOf(find(changed, 'Deployment', `${F}-ingest`)).spec.containers[0]).REQUEST_TIMEOUT_MS).toBe('45000');
    expect(envOf(podOf(find(changed, 'Deployment', `${F}-consumer`)).spec.containers[0]).BATCH_LINGER_MS).toBe('0');
  });
});

describe("values outside a variable's bounds", () => {
  it.each([
    [{ 'ingest.requestTimeoutMs': 99 }, 'requestTimeoutMs'],
    [{ 'consumer.batchLingerMs': 1001 }, 'batchLingerMs'],
    [{ 'rateLimit.enabled': true, 'rateLimit.windowMs': 99 }, 'windowMs'],
    [{ 'consumer.retryDelayMs': 2000, 'consumer.retryDelayMaxMs': 1000 }, 'consumer.retryDelayMaxMs'],
  ])('%j is refused, naming the value', (values, name) => {
    const r = tryRender(set(values));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(name);
  });
});
