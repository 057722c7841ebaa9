// The chart rendered without a cluster and applied as is (Argo CD, `helm template | kubectl apply`):
// the migration Job named after what it runs, no generated password, Argo CD hooks and waves.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART, byKind, find, migrationJob, podOf, render, set, tryRender, tryRenderAsync, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
const jobName = (args: string[] = []) => migrationJob(render(args)).metadata.name;
const OWN_SECRETS = set({ 'postgresql.auth.existingSecret': 'pg-credentials', 'nats.auth.existingSecret': 'nats-credentials' });

describe('migration Job name', () => {
  const name = jobName();

  it('is <fullname>-migrate-<10 hex digits>, at most 63 characters even with the longest fullname', () => {
    expect(name).toMatch(new RegExp(`^${F}-migrate-[0-9a-f]{10}$`));
    const long = jobName(set({ fullnameOverride: 'x'.repeat(40) }));
    expect(long).toMatch(/^x{40}-migrate-[0-9a-f]{10}$/);
    expect(long.length).toBeLessThanOrEqual(63);
  });

  it('is the same for the same values, whatever the revision or install/upgrade', () => {
    expect(jobName()).toBe(name);
    expect(jobName(['--is-upgrade'])).toBe(name);
    // `helm template` always renders revision 1: what names the Job must not depend on it.
    for (const file of ['templates/_migration.tpl', 'templates/migration-job.yaml'])
      expect(readFileSync(path.join(CHART, file), 'utf8'), file).not.toMatch(/\.Release\.Revision/);
  });

  it('changes with what the Job runs: image, its environment, credentials values, the chart version', () => {
    const tagged = jobName(set({ 'image.tag': 'b' }));
    expect(tagged).not.toBe(name);
    expect(jobName(set({ 'image.tag': 'b' }))).toBe(tagged);
    expect(jobName(set({ 'image.digest': `sha256:${'a'.repeat(64)}` }))).not.toBe(name);
    expect(jobName(set({ 'extraEnv[0].name': 'TZ', 'extraEnv[0].value': 'UTC' }))).not.toBe(name);
    // The Job sets the app role's password: a new value must run it again.
    expect(jobName(set({ 'postgresql.auth.appPassword': 'rotated' }))).not.toBe(name);
    // A forced re-run (e.g. after editing an existingSecret) is any new pod annotation.
    expect(jobName(set({ 'migration.podAnnotations.rerun': '2' }))).not.toBe(name);
    // Values the Job does not see leave it alone: re-applying them must not run it again.
    expect(jobName(set({ 'ingest.replicaCount': 5, 'consumer.batchSize': 50, 'config.logLevel': 'debug' }))).toBe(name);
  });

  it('changes with the chart version (a new chart may run the same image differently)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-version-'));
    try {
      const chart = path.join(dir, 'pubsub-aggregator');
      cpSync(CHART, chart, { recursive: true });
      const chartYaml = path.join(chart, 'Chart.yaml');
      writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, 'version: 99.0.0'));
      const r = await tryRenderAsync(['--kube-version', '1.30.0'], {}, chart);
      expect(r.ok, r.stderr).toBe(true);
      expect(migrationJob(r.objects).metadata.name).not.toBe(name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gitOps=true', () => {
  it('refuses to generate PostgreSQL passwords, naming the value to set', () => {
    const r = tryRender(set({ gitOps: true }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('gitOps=true needs postgresql.auth.existingSecret');
    expect(r.stderr).toContain('"password" and "app-password"');
  });

  it('refuses to generate NATS passwords, naming the value to set', () => {
    const r = tryRender(set({ gitOps: true, 'postgresql.auth.existingSecret': 'pg-credentials' }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('gitOps=true needs nats.auth.existingSecret');
    expect(r.stderr).toContain('"admin-password", "consumer-password", "dead-letters-password", "ingest-password" (');
    // One password left to generate is still refused.
    const partly = tryRender(
      set({
        gitOps: true,
        'postgresql.auth.existingSecret': 'pg-credentials',
        'nats.auth.passwords.ingest': 'i',
        'nats.auth.passwords.consumer': 'c',
      }),
    );
    expect(partly.stderr).toContain('nats.auth.passwords.admin is empty');
  });

  it('with existingSecrets: no generated Secret, and two renders are identical', () => {
    const a = render([...set({ gitOps: true }), ...OWN_SECRETS]);
    const b = render([...set({ gitOps: true }), ...OWN_SECRETS]);
    expect(byKind(a, 'Secret')).toEqual([]);
    expect(b).toEqual(a);
    const migrate = podOf(migrationJob(a)).spec.containers[0];
    expect(migrate.env.find((e: any) => e.name === 'POSTGRES_PASSWORD').valueFrom.secretKeyRef.name).toBe('pg-credentials');
  });

  it('explicit passwords, or no built-in NATS and PostgreSQL, need no existingSecret (nothing is generated)', () => {
    const given = set({
      gitOps: true,
      'postgresql.auth.password': 'p',
      'postgresql.auth.appPassword': 'a',
      'nats.auth.passwords.ingest': 'i',
      'nats.auth.passwords.consumer': 'c',
      'nats.auth.passwords.admin': 'd',
      'nats.auth.passwords.deadLetters': 'l',
    });
    expect(render(given)).toEqual(render(given));
    const external = tryRender(
      set({
        gitOps: true,
        'nats.enabled': false,
        'externalNats.url': 'nats://nats:4222',
        'config.stream.maxBytes': 1073741824,
        'postgresql.enabled': false,
        'externalDatabase.existingSecret': 'db',
      }),
    );
    expect(external.ok, external.stderr).toBe(true);
  });
});

describe('Argo CD', () => {
  const objs = render(['--set', 'k6.enabled=true']);
  const annotations = (o: K8sObject) => o.metadata.annotations ?? {};

  it('runs the helm test pod and the k6 Job as PostSync hooks, each replacing the previous one', () => {
    for (const o of [find(objs, 'Pod', `${F}-test-publish`), find(objs, 'Job', `${F}-k6-1`)]) {
      expect(annotations(o)['argocd.argoproj.io/hook'], o.metadata.name).toBe('PostSync');
      expect(annotations(o)['argocd.argoproj.io/hook-delete-policy'], o.metadata.name).toBe('BeforeHookCreation');
    }
  });

  it('applies the Deployments after the migration Job completed (sync waves); the Job is a plain resource', () => {
    const job = migrationJob(objs);
    expect(annotations(job)['argocd.argoproj.io/hook']).toBeUndefined();
    expect(annotations(job)['argocd.argoproj.io/sync-wave']).toBeUndefined();
    for (const name of ['ingest', 'consumer'])
      expect(annotations(find(objs, 'Deployment', `${F}-${name}`))['argocd.argoproj.io/sync-wave'], name).toBe('1');
    // Nothing else waits: NATS, PostgreSQL, Secrets and ConfigMaps are in wave 0 with the Job,
    // which waits for PostgreSQL itself (a later wave for PostgreSQL would deadlock it).
    const waved = objs.filter((o) => annotations(o)['argocd.argoproj.io/sync-wave']).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(waved.sort()).toEqual([`Deployment/${F}-consumer`, `Deployment/${F}-ingest`]);
  });
});
