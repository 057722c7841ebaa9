// values.schema.json and the chart's own checks turn bad values into clear install-time errors.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { CHART, tryRender } from './helm.ts';

const reject = (args: string[]) => {
  const r = tryRender(args);
  expect(r.ok, `helm template ${args.join(' ')} should fail`).toBe(false);
  return r.stderr;
};

describe('values.schema.json', () => {
  it('a string replica count fails with the path and the expected type', () => {
    const err = reject(['--set', 'ingest.replicaCount=two']);
    expect(err).toContain("values don't meet the specifications of the schema");
    expect(err).toMatch(/\/ingest\/replicaCount'?: got string, want integer/);
  });

  it.each([
    [['--set', 'consumer.replicaCount=-1'], /\/consumer\/replicaCount/],
    [['--set', 'nats.replicas=2'], /\/nats\/replicas'?: value must be one of 1, 3/],
    [['--set', 'config.logLevel=verbose'], /\/config\/logLevel/],
    [['--set', 'consumer.persistMode=bulk'], /\/consumer\/persistMode/],
    [['--set', 'config.stream.replicas=6'], /\/config\/stream\/replicas/],
    [['--set', 'config.dbPoolSize=0'], /\/config\/dbPoolSize/],
    [['--set', 'ingest.port=80'], /\/ingest\/port/],
    [['--set', 'ingest.service.type=Ingress'], /\/ingest\/service\/type/],
    [['--set', 'image.pullPolicy=Sometimes'], /\/image\/pullPolicy/],
    [['--set', 'externalDatabase.url=mysql://x'], /\/externalDatabase\/url/],
    [['--set', 'postgresql.auth.password=has@sign'], /\/postgresql\/auth\/password/],
    [['--set', 'podSecurityContext.runAsNonRoot=false'], /\/podSecurityContext\/runAsNonRoot/],
    [['--set', 'ingest.replicaCont=3'], /additional properties 'replicaCont' not allowed/],
    [['--set', 'ingest.metricsPort=80'], /\/ingest\/metricsPort/],
    [['--set', 'ingest.startupProbe.periodSeconds=0'], /\/ingest\/startupProbe\/periodSeconds/],
    [['--set', 'nats.auth.passwords.ingest=has@sign'], /\/nats\/auth\/passwords\/ingest/],
    [['--set', 'nats.goMemLimitPercent=150'], /\/nats\/goMemLimitPercent/],
    [['--set', 'nats.goMaxProcs=-1'], /\/nats\/goMaxProcs/],
    [['--set', 'postgresql.auth.appUsername=Bad-Name'], /\/postgresql\/auth\/appUsername/],
    [['--set', 'k6.teardownTimeout=soon'], /\/k6\/teardownTimeout/],
    [['--set', 'auth.readTokens={has space}'], /\/auth\/readTokens\/0/],
    [['--set', 'config.stream.maxBytes=-1'], /\/config\/stream\/maxBytes/],
    [['--set', 'config.stream.deadLetterMaxBytes=1024'], /\/config\/stream\/deadLetterMaxBytes/],
    [['--set', 'config.stream.maxAgeMs=0'], /additional properties 'maxAgeMs' not allowed/],
    [['--set', 'ingest.maxTopics=0'], /\/ingest\/maxTopics/],
    [['--set', 'metrics.prometheusRule.enabled=yes'], /\/metrics\/prometheusRule\/enabled/],
  ])('rejects %j', (args, message) => {
    expect(reject(args)).toMatch(message);
  });

  it('refuses a hop count or a stray character for ingest.trustProxy, a negative retry delay', () => {
    expect(reject(['--set', 'ingest.trustProxy=1'])).toMatch(/\/ingest\/trustProxy'?: got number, want string/);
    expect(reject(['--set-string', 'ingest.trustProxy=10.0.0.0/8;x'])).toMatch(/\/ingest\/trustProxy/);
    expect(reject(['--set', 'consumer.retryDelayMs=-1'])).toMatch(/\/consumer\/retryDelayMs/);
  });

  it('cross-field rules fail with the value names', () => {
    expect(reject(['--set', 'config.stream.replicas=3'])).toContain('config.stream.replicas (3) must not exceed nats.replicas (1)');
    expect(reject(['--set', 'ingest.bodyBudgetBytes=1048576'])).toContain(
      'ingest.bodyBudgetBytes (1048576) must be at least ingest.bodyLimitBytes (8388608)',
    );
    expect(reject(['--set', 'nats.enabled=false'])).toContain('externalNats.url is required when nats.enabled=false');
    expect(reject(['--set', 'postgresql.enabled=false'])).toContain('externalDatabase.url or externalDatabase.existingSecret is required');
    expect(
      reject([
        '--set',
        'ingest.autoscaling.enabled=true',
        '--set',
        'ingest.autoscaling.minReplicas=5',
        '--set',
        'ingest.autoscaling.maxReplicas=3',
      ]),
    ).toContain('ingest.autoscaling.minReplicas must not exceed ingest.autoscaling.maxReplicas');
    expect(reject(['--set', 'ingest.metricsPort=8080'])).toContain('ingest.metricsPort must differ from ingest.port');
    expect(reject(['--set', 'config.stream.maxBytes=8589934592'])).toContain(
      'config.stream.maxBytes (8589934592) + config.stream.deadLetterMaxBytes (268435456) + headroom (858993459) exceed nats.jetstream.fileStore.maxSize (8Gi',
    );
    expect(reject(['--set', 'nats.enabled=false', '--set', 'externalNats.url=nats://nats:4222'])).toContain(
      'config.stream.maxBytes is required with an external NATS',
    );
  });

  it('accepts every CI value set and the cluster value files', () => {
    const files = [
      ...readdirSync(path.join(CHART, 'ci')).map((f) => path.join(CHART, 'ci', f)),
      path.join(CHART, '../../k8s/values-kind.yaml'),
      path.join(CHART, '../../k8s/values-minikube.yaml'),
    ];
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) {
      const r = tryRender(['-f', f]);
      expect(r.ok, `${f}: ${r.stderr}`).toBe(true);
    }
  });
});
