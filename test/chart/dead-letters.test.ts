// The dead-letters tool in the chart: its NATS user (password in the users' Secret, permissions in
// nats.conf), the optional Job, and the NetworkPolicies around it. nats-auth.test.ts runs the same
// user on a real nats-server.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CHART,
  allowed,
  byKind,
  envOf,
  find,
  podOf,
  render,
  set,
  tryRender,
  tryRenderAsync,
  withFakeCluster,
  type K8sObject,
} from './helm.ts';

const F = 'pubsub-aggregator';
const JOB = `${F}-dead-letters-1`;
const natsConf = (objs: K8sObject[]) => find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
const labelsOf = (objs: K8sObject[], kind: string, name: string) => ({ labels: podOf(find(objs, kind, name)).labels });

describe('the dead-letters NATS user', () => {
  const objs = render();

  it('nats.conf has a dead-letters user allowed only the dead-letter stream, events.> and its own inbox', () => {
    const conf = natsConf(objs);
    const block = conf.slice(conf.indexOf('user: dead-letters'), conf.indexOf('user: admin'));
    expect(block).toContain('password: $NATS_DEAD_LETTERS_PASSWORD');
    const quoted = (part: string) => [...part.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(quoted(block.slice(block.indexOf('publish'), block.indexOf('subscribe')))).toEqual([
      'events.>',
      '$JS.API.INFO',
      '$JS.API.STREAM.INFO.EVENTS_DLQ',
      '$JS.API.STREAM.MSG.GET.EVENTS_DLQ',
      '$JS.API.STREAM.MSG.DELETE.EVENTS_DLQ',
      '$JS.API.STREAM.PURGE.EVENTS_DLQ',
    ]);
    expect(quoted(block.slice(block.indexOf('subscribe')))).toEqual(['_INBOX_deadletters.>']);
  });

  it('follows config.stream.name', () => {
    const conf = natsConf(render(set({ 'config.stream.name': 'OTHER' })));
    expect(conf).toContain('"$JS.API.STREAM.PURGE.OTHER_DLQ"');
    expect(conf).not.toContain('EVENTS_DLQ');
  });

  it('its password is generated into the users Secret and reaches the NATS pods from it', () => {
    const secret = find(objs, 'Secret', `${F}-nats-users`);
    expect(Buffer.from(secret.data!['dead-letters-password']!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
    const env = envOf(podOf(find(objs, 'StatefulSet', `${F}-nats`)).spec.containers[0]);
    expect(env.NATS_DEAD_LETTERS_PASSWORD).toEqual({ secretKeyRef: { name: `${F}-nats-users`, key: 'dead-letters-password' } });
    const fixed = render(set({ 'nats.auth.passwords.deadLetters': 'dl-pw-0123456789' }));
    expect(Buffer.from(find(fixed, 'Secret', `${F}-nats-users`).data!['dead-letters-password']!, 'base64').toString()).toBe(
      'dl-pw-0123456789',
    );
  });

  it('no Job and no policy for it unless asked', () => {
    expect(byKind(objs, 'Job').map((j) => j.metadata.name)).not.toContain(JOB);
    expect(byKind(objs, 'NetworkPolicy').map((p) => p.metadata.name)).not.toContain(`${F}-dead-letters`);
  });

  it('an install or upgrade with a nats.auth.existingSecret lacking dead-letters-password fails naming the key', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    let live: K8sObject[] = [];
    await withFakeCluster(
      () => live,
      async (env) => {
        const renderLive = () =>
          tryRenderAsync(
            ['--dry-run=server', '--show-only', 'templates/nats.yaml', ...set({ 'nats.auth.existingSecret': 'my-nats' })],
            env,
          );
        const keys = {
          'ingest-password': b64('i-0123456789'),
          'consumer-password': b64('c-0123456789'),
          'admin-password': b64('a-0123456789'),
        };
        live = [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'my-nats' }, data: keys }];
        const older = await renderLive();
        expect(older.ok).toBe(false);
        expect(older.stderr).toMatch(
          /nats\.auth\.existingSecret "my-nats" has no key "dead-letters-password" \(nats\.auth\.deadLettersPasswordKey\)/,
        );
        live = [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'my-nats' },
            data: { ...keys, 'dead-letters-password': b64('d-0123456789') },
          },
        ];
        const complete = await renderLive();
        expect(complete.ok, complete.stderr).toBe(true);
      },
    );
  });
});

describe('the dead-letters Job', () => {
  const args = ['--set', 'deadLetters.job.enabled=true', '--set-json', 'deadLetters.job.args=["replay","--topic","orders.created"]'];
  const objs = render(args);

  it('runs the command from values as the dead-letters user, with the password from the Secret', () => {
    const job = find(objs, 'Job', JOB);
    expect(job.spec.backoffLimit).toBe(0);
    const pod = podOf(job).spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    const c = pod.containers[0];
    expect(c.command).toEqual(['node', 'dist/apps/main.js', 'dead-letters']);
    expect(c.args).toEqual(['replay', '--topic', 'orders.created']);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
    const env = envOf(c);
    expect(env).toMatchObject({
      NATS_USER: 'dead-letters',
      NATS_PASSWORD: { secretKeyRef: { name: `${F}-nats-users`, key: 'dead-letters-password' } },
      STREAM_NAME: 'EVENTS',
      PUBLISH_TIMEOUT_MS: '10000',
    });
    expect(env.NATS_URL).toMatch(/^nats:\/\/pubsub-aggregator-nats/);
    // NATS only: no database credentials in this pod.
    expect(Object.keys(env).filter((k) => /DATABASE/.test(k))).toEqual([]);
  });

  it('reaches NATS client port and nothing else; NATS admits it', () => {
    const job = labelsOf(objs, 'Job', JOB);
    const nats = labelsOf(objs, 'StatefulSet', `${F}-nats`);
    const pg = labelsOf(objs, 'StatefulSet', `${F}-postgresql`);
    const ingest = labelsOf(objs, 'Deployment', `${F}-ingest`);
    expect(allowed(objs, job, nats, 4222)).toBe(true);
    expect(allowed(objs, job, nats, 8222)).toBe(false);
    expect(allowed(objs, job, pg, 5432)).toBe(false);
    expect(allowed(objs, job, ingest, 8080)).toBe(false);
    // Without the Job's policy NATS would not admit it (default deny).
    const withoutNetpol = objs.filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.name === `${F}-dead-letters`));
    expect(allowed(withoutNetpol, job, nats, 4222)).toBe(false);
  });

  it('with an external NATS: the user and password from externalNats.existingSecret', () => {
    const ext = render(['-f', path.join(CHART, 'ci/external-values.yaml'), ...args]);
    const env = envOf(podOf(find(ext, 'Job', JOB)).spec.containers[0]);
    expect(env.NATS_USER).toEqual({ secretKeyRef: { name: 'nats-credentials', key: 'dead-letters-user' } });
    expect(env.NATS_PASSWORD).toEqual({ secretKeyRef: { name: 'nats-credentials', key: 'dead-letters-password' } });
    // Egress to the external NATS (networkPolicy.externalNatsTo), not to the external database.
    const job = labelsOf(ext, 'Job', JOB);
    const natsPod = { labels: { 'app.kubernetes.io/name': 'nats' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'nats' } };
    expect(allowed(ext, job, natsPod, 4222)).toBe(true);
    expect(allowed(ext, job, { labels: {}, ip: '10.20.0.5' }, 5432)).toBe(false);
  });

  it('the schema refuses an unknown command and a missing one', () => {
    const bad = tryRender(['--set', 'deadLetters.job.enabled=true', '--set-json', 'deadLetters.job.args=["frobnicate"]']);
    expect(bad.ok).toBe(false);
    expect(bad.stderr).toMatch(/deadLetters\/job\/args\/0.*one of 'list', 'show', 'replay', 'purge'/);
    expect(tryRender(['--set-json', 'deadLetters.job.args=[]']).ok).toBe(false);
  });
});
