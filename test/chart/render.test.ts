// What charts/pubsub-aggregator renders, for the value sets that matter.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { spawnSync } from 'node:child_process';
import {
  CHART,
  NAMESPACE,
  byKind,
  envOf,
  find,
  migrationJob,
  podOf,
  render,
  set,
  tool,
  tryRender,
  tryRenderAsync,
  withFakeCluster,
  workloads,
  type K8sObject,
} from './helm.ts';

const chartYaml = parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
const ciValues = (name: string) => ['-f', path.join(CHART, 'ci', name)];
const defaults = render();
const F = 'pubsub-aggregator';

const allContainers = (objs: K8sObject[]) =>
  workloads(objs).flatMap((w) => {
    const { spec } = podOf(w);
    return [...(spec.initContainers ?? []), ...spec.containers].map((c: any) => ({ w, c, pod: spec }));
  });

describe('security', () => {
  for (const [label, objs] of [
    ['defaults', defaults],
    ['nats cluster', render(ciValues('nats-cluster-values.yaml'))],
    ['hpa + extras (k6, auth)', render(ciValues('hpa-values.yaml'))],
  ] as const) {
    it(`every container is non-root, read-only, drops ALL capabilities, RuntimeDefault seccomp (${label})`, () => {
      const list = allContainers(objs);
      expect(list.length).toBeGreaterThanOrEqual(7);
      for (const { w, c, pod } of list) {
        const where = `${w.kind}/${w.metadata.name}:${c.name}`;
        const sc = c.securityContext ?? {};
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.capabilities?.drop, where).toEqual(['ALL']);
        expect(sc.capabilities?.add, where).toBeUndefined();
        expect(sc.privileged ?? false, where).toBe(false);
        expect(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, where).toBe(true);
        const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
        expect(uid, where).toBeGreaterThan(0);
        expect((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type, where).toBe('RuntimeDefault');
        // Read-only root: anything that writes has an emptyDir or a PVC.
        expect((c.volumeMounts ?? []).length, where).toBeGreaterThan(0);
      }
    });
  }

  it('application pods do not mount a ServiceAccount token', () => {
    for (const w of workloads(defaults)) expect(podOf(w).spec.automountServiceAccountToken, w.metadata.name).toBe(false);
  });
});

describe('probes and shutdown', () => {
  it('ingest and consumer probe /healthz (liveness) and /readyz (readiness) on their HTTP port', () => {
    for (const [name, port] of [
      ['ingest', 8080],
      ['consumer', 9090],
    ] as const) {
      const c = podOf(find(defaults, 'Deployment', `${F}-${name}`)).spec.containers[0];
      expect(c.ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: port }));
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(envOf(c).PORT).toBe(String(port));
      expect(c.command).toEqual(['node', 'dist/apps/main.js', name]);
    }
  });

  it('NATS and PostgreSQL have startup, liveness and readiness probes', () => {
    for (const name of ['nats', 'postgresql']) {
      const c = podOf(find(defaults, 'StatefulSet', `${F}-${name}`)).spec.containers[0];
      for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[p], `${name} ${p}`).toBeDefined();
    }
  });

  it('terminationGracePeriodSeconds exceeds SHUTDOWN_TIMEOUT_MS plus the preStop sleep', () => {
    for (const shutdownMs of [10_000, 30_500]) {
      const objs = render(set({ 'config.shutdownTimeoutMs': shutdownMs }));
      for (const name of ['ingest', 'consumer']) {
        const { spec } = podOf(find(objs, 'Deployment', `${F}-${name}`));
        const c = spec.containers[0];
        expect(Number(envOf(c).SHUTDOWN_TIMEOUT_MS)).toBe(shutdownMs);
        const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
        expect(spec.terminationGracePeriodSeconds * 1000, name).toBeGreaterThan(shutdownMs + preStop * 1000);
      }
    }
    // ceil(30.5) + 5 (preStop) + 10 (margin)
    const ingest = podOf(find(render(set({ 'config.shutdownTimeoutMs': 30_500 })), 'Deployment', `${F}-ingest`)).spec;
    expect(ingest.terminationGracePeriodSeconds).toBe(46);
  });

  it('PodDisruptionBudgets cover ingest, consumer and NATS', () => {
    const pdbs = byKind(defaults, 'PodDisruptionBudget');
    for (const c of ['ingest', 'consumer', 'nats']) {
      const pdb = pdbs.find((p) => p.spec.selector.matchLabels['app.kubernetes.io/component'] === c);
      expect(pdb, c).toBeDefined();
      expect(pdb!.spec.maxUnavailable).toBe(1);
      // A drain may evict pods that are not ready: an outage that leaves them all unready must
      // not block every drain.
      expect(pdb!.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    }
    const strict = byKind(
      render(set({ 'consumer.podDisruptionBudget.unhealthyPodEvictionPolicy': 'IfHealthyBudget' })),
      'PodDisruptionBudget',
    );
    expect(Object.fromEntries(strict.map((p) => [p.metadata.name, p.spec.unhealthyPodEvictionPolicy]))).toEqual({
      [`${F}-ingest`]: 'AlwaysAllow',
      [`${F}-consumer`]: 'IfHealthyBudget',
      [`${F}-nats`]: 'AlwaysAllow',
    });
    expect(tryRender(set({ 'nats.podDisruptionBudget.unhealthyPodEvictionPolicy': 'Never' })).stderr).toMatch(
      /nats\/podDisruptionBudget\/unhealthyPodEvictionPolicy/,
    );
  });

  it('spreads app pods over nodes', () => {
    const tsc = podOf(find(defaults, 'Deployment', `${F}-ingest`)).spec.topologySpreadConstraints;
    expect(tsc[0]).toMatchObject({
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'ingest' } },
    });
  });
});

describe('storage', () => {
  it('NATS and PostgreSQL keep their data on PVCs (volumeClaimTemplates) mounted where they write', () => {
    const objs = render(
      set({
        'nats.jetstream.fileStore.pvc.size': '3Gi',
        'nats.jetstream.fileStore.maxSize': '2Gi',
        'postgresql.persistence.size': '4Gi',
        'postgresql.persistence.storageClassName': 'fast',
      }),
    );
    for (const [name, mount, size] of [
      ['nats', '/data', '3Gi'],
      ['postgresql', '/var/lib/postgresql/data', '4Gi'],
    ] as const) {
      const sts = find(objs, 'StatefulSet', `${F}-${name}`);
      const [vct] = sts.spec.volumeClaimTemplates;
      expect(vct.metadata.name).toBe('data');
      expect(vct.spec.resources.requests.storage).toBe(size);
      expect(vct.spec.accessModes).toEqual(['ReadWriteOnce']);
      const c = sts.spec.template.spec.containers[0];
      expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: mount });
    }
    expect(find(objs, 'StatefulSet', `${F}-postgresql`).spec.volumeClaimTemplates[0].spec.storageClassName).toBe('fast');
    expect(find(objs, 'StatefulSet', `${F}-nats`).spec.volumeClaimTemplates[0].spec.storageClassName).toBeUndefined();
    // JetStream stores into the PVC.
    expect(find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']).toMatch(/store_dir: \/data/);
  });
});

describe('PostgreSQL on a read-only root filesystem', () => {
  it('writes only to its PVC (PGDATA in a subdirectory) and emptyDirs for socket, /tmp and shared memory', () => {
    const { spec } = podOf(find(defaults, 'StatefulSet', `${F}-postgresql`));
    const c = spec.containers[0];
    expect(envOf(c).PGDATA).toBe('/var/lib/postgresql/data/pgdata');
    const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
    expect(mounts).toEqual({ '/var/lib/postgresql/data': 'data', '/var/run/postgresql': 'run', '/tmp': 'tmp', '/dev/shm': 'shm' });
    for (const v of ['run', 'tmp', 'shm']) expect(spec.volumes.find((x: any) => x.name === v).emptyDir, v).toBeDefined();
    expect(spec.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
    expect(c.args).toEqual(['-c', 'max_connections=100', '-c', 'shared_buffers=128MB']);
  });
});

describe('migration ordering', () => {
  const job = migrationJob(defaults);

  it('is a release Job (not a pre-install hook, which would run before the built-in PostgreSQL exists)', () => {
    expect(job.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    const { spec } = podOf(job);
    expect(spec.containers[0].command).toEqual(['node', 'dist/apps/main.js', 'migrate']);
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['wait-for-postgres']);
    expect(envOf(spec.initContainers[0]).WAIT_FOR).toBe('postgres');
  });

  it('its deadline leaves the migration time after the longest wait for PostgreSQL', () => {
    expect(job.spec.activeDeadlineSeconds).toBe(1200);
    expect(envOf(podOf(job).spec.initContainers[0]).WAIT_TIMEOUT_SECONDS).toBe('900');
    for (const deadline of [900, 600])
      expect(tryRender(set({ 'migration.activeDeadlineSeconds': deadline })).stderr).toContain(
        `migration.activeDeadlineSeconds (${deadline}) must be greater than migration.waitTimeoutSeconds (900)`,
      );
    expect(migrationJob(render(set({ 'migration.activeDeadlineSeconds': 400, 'migration.waitTimeoutSeconds': 300 }))).spec).toMatchObject({
      activeDeadlineSeconds: 400,
    });
  });

  it('ingest and consumer start only after the migrations of their own image are applied', () => {
    for (const name of ['ingest', 'consumer']) {
      const { spec } = podOf(find(defaults, 'Deployment', `${F}-${name}`));
      const [init] = spec.initContainers;
      expect(init.name).toBe('wait-for-migrations');
      expect(init.image).toBe(spec.containers[0].image);
      expect(envOf(init).WAIT_FOR).toBe('migrations');
      expect(envOf(init).DATABASE_URL).toBe(envOf(spec.containers[0]).DATABASE_URL);
      expect(init.command).toEqual(['node', '/scripts/wait-for.cjs']);
      expect(init.volumeMounts).toContainEqual({ name: 'scripts', mountPath: '/scripts', readOnly: true });
      expect(spec.volumes).toContainEqual({ name: 'scripts', configMap: { name: `${F}-scripts` } });
      // Rolling updates never drop serving pods while new ones wait for a migration.
      expect(find(defaults, 'Deployment', `${F}-${name}`).spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    }
    const scripts = find(defaults, 'ConfigMap', `${F}-scripts`).data!;
    expect(scripts['wait-for.cjs']).toContain('_prisma_migrations');
  });

  it('migration.enabled=false removes the Job but keeps the apps waiting', () => {
    const objs = render(set({ 'migration.enabled': false }));
    expect(byKind(objs, 'Job')).toHaveLength(0);
    expect(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.initContainers[0].name).toBe('wait-for-migrations');
  });
});

describe('images', () => {
  const appContainers = (objs: K8sObject[]) =>
    allContainers(objs).filter(({ w }) => !['nats', 'postgresql', 'k6'].includes(podOf(w).labels['app.kubernetes.io/component']!));

  /** The migration Job's own container runs the migrate image; every other app container the app image. */
  const isMigrate = (c: { name: string }) => c.name === 'migrate';

  it('default app image tag is the chart appVersion, for the app image and the migrate image', () => {
    const list = appContainers(defaults);
    expect(list.length).toBe(7); // ingest+init, consumer+init, migrate+init, the helm test pod
    for (const { c } of list) expect(c.image).toBe(`pubsub-aggregator${isMigrate(c) ? '-migrate' : ''}:${chartYaml.appVersion}`);
    expect(list.filter(({ c }) => isMigrate(c))).toHaveLength(1);
  });

  it('image.repository/tag/digest/pullPolicy come from values, for every app container; the migrate image follows them', () => {
    const objs = render(set({ 'image.repository': 'registry.example/team/pubsub', 'image.tag': '1.2.3', 'image.pullPolicy': 'Always' }));
    for (const { c } of appContainers(objs)) {
      expect(c.image).toBe(`registry.example/team/pubsub${isMigrate(c) ? '-migrate' : ''}:1.2.3`);
      expect(c.imagePullPolicy).toBe('Always');
    }
    const digest = 'sha256:' + 'a'.repeat(64);
    const pinned = render(set({ 'image.tag': 'x', 'image.digest': digest }));
    // The app image's digest cannot pin the other image: the migrate image keeps its tag.
    for (const { c } of appContainers(pinned))
      expect(c.image).toBe(isMigrate(c) ? 'pubsub-aggregator-migrate:x' : `pubsub-aggregator:x@${digest}`);
  });

  it('migration.image overrides the migrate image on its own', () => {
    const digest = 'sha256:' + 'c'.repeat(64);
    const objs = render(
      set({
        'image.tag': 'x',
        'migration.image.repository': 'mirror/migrate',
        'migration.image.tag': 'y',
        'migration.image.digest': digest,
      }),
    );
    for (const { c } of appContainers(objs)) expect(c.image).toBe(isMigrate(c) ? `mirror/migrate:y@${digest}` : 'pubsub-aggregator:x');
    expect(tryRender(set({ 'migration.image.digest': 'latest' })).stderr).toMatch(/\/migration\/image\/digest/);
  });

  it('NATS 2.15 and PostgreSQL 15 images are pinned and overridable', () => {
    const nats = podOf(find(defaults, 'StatefulSet', `${F}-nats`)).spec.containers[0];
    const pg = podOf(find(defaults, 'StatefulSet', `${F}-postgresql`)).spec.containers[0];
    expect(nats.image).toMatch(/^nats:2\.15\.\d+-alpine$/);
    expect(pg.image).toMatch(/^postgres:15\.\d+/);
    const objs = render(set({ 'nats.image.tag': '2.12.99-alpine', 'postgresql.image.repository': 'mirror/postgres' }));
    expect(podOf(find(objs, 'StatefulSet', `${F}-nats`)).spec.containers[0].image).toBe('nats:2.12.99-alpine');
    expect(podOf(find(objs, 'StatefulSet', `${F}-postgresql`)).spec.containers[0].image).toMatch(/^mirror\/postgres:15/);
  });

  it('every pin of nats-server names the chart default: the local prerequisites, the lab in CI, the official chart values', () => {
    const tag = /^nats:(\d+\.\d+\.\d+)-alpine$/.exec(podOf(find(defaults, 'StatefulSet', `${F}-nats`)).spec.containers[0].image)?.[1];
    const read = (f: string) => readFileSync(path.join(CHART, '../..', f), 'utf8');
    expect({
      'scripts/install-prereqs.sh': /^NATS_SERVER_VERSION=v(\S+)/m.exec(read('scripts/install-prereqs.sh'))?.[1],
      '.ci/run': /^export NATS_VERSION=v(\S+)/m.exec(read('.ci/run'))?.[1],
      'k8s/nats-values.yaml': /^\s+tag: (\d+\.\d+\.\d+)-alpine$/m.exec(read('k8s/nats-values.yaml'))?.[1],
    }).toEqual({ 'scripts/install-prereqs.sh': tag, '.ci/run': tag, 'k8s/nats-values.yaml': tag });
  });
});

describe('PostgreSQL credentials', () => {
  const secretOf = (objs: K8sObject[]) => find(objs, 'Secret', `${F}-postgresql`);
  const password = (objs: K8sObject[]) => Buffer.from(secretOf(objs).data!.password!, 'base64').toString();

  it('generates strong passwords (superuser, apps), kept on uninstall; only the migration logs in as the superuser', () => {
    expect(password(defaults)).toMatch(/^[A-Za-z0-9]{32}$/);
    const appPw = Buffer.from(secretOf(defaults).data!['app-password']!, 'base64').toString();
    expect(appPw).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(appPw).not.toBe(password(defaults));
    expect(secretOf(defaults).metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const pg = podOf(find(defaults, 'StatefulSet', `${F}-postgresql`)).spec.containers[0];
    expect(envOf(pg).POSTGRES_PASSWORD).toEqual({ secretKeyRef: { name: `${F}-postgresql`, key: 'password' } });
    const admin = `postgresql://events:$(POSTGRES_PASSWORD)@${F}-postgresql.${NAMESPACE}.svc:5432/events`;
    const app = `postgresql://events_app:$(APP_DB_PASSWORD)@${F}-postgresql.${NAMESPACE}.svc:5432/events`;
    const urls: Record<string, string> = {};
    for (const { w, c } of allContainers(defaults).filter(({ c }) => envOf(c).DATABASE_URL)) {
      const env = envOf(c);
      urls[`${podOf(w).labels['app.kubernetes.io/component']}/${c.name}`] = env.DATABASE_URL;
      const passwordVar = env.DATABASE_URL === admin ? 'POSTGRES_PASSWORD' : 'APP_DB_PASSWORD';
      expect(env[passwordVar], c.name).toEqual({
        secretKeyRef: { name: `${F}-postgresql`, key: passwordVar === 'POSTGRES_PASSWORD' ? 'password' : 'app-password' },
      });
      // $(VAR) expansion only works for variables defined earlier in the list.
      const names = c.env.map((e: any) => e.name);
      expect(names.indexOf(passwordVar)).toBeLessThan(names.indexOf('DATABASE_URL'));
    }
    expect(urls).toEqual({
      'migration/wait-for-postgres': admin,
      'migration/migrate': admin,
      'ingest/wait-for-migrations': app,
      'ingest/ingest': app,
      'consumer/wait-for-migrations': app,
      'consumer/consumer': app,
    });
    // The migration creates that role (apps/migrate/app-role.ts).
    const migrate = envOf(podOf(migrationJob(defaults)).spec.containers[0]);
    expect(migrate.APP_DB_USER).toBe('events_app');
    expect(migrate.APP_DB_PASSWORD).toEqual({ secretKeyRef: { name: `${F}-postgresql`, key: 'app-password' } });
  });

  it('an explicit password renders the same Secret every time', () => {
    const a = render(set({ 'postgresql.auth.password': 's3cret-Pass', 'postgresql.auth.appPassword': 'app-Pass' }));
    const b = render(set({ 'postgresql.auth.password': 's3cret-Pass', 'postgresql.auth.appPassword': 'app-Pass' }));
    expect(password(a)).toBe('s3cret-Pass');
    expect(secretOf(a)).toEqual(secretOf(b));
  });

  it('on upgrade the generated passwords are read back from the live Secrets (lookup), never regenerated', async () => {
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    let live: K8sObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${F}-postgresql` },
        data: { password: b64('password-from-install'), 'app-password': b64('app-password-from-install') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${F}-nats-users` },
        data: {
          'ingest-password': b64('ingest-from-install'),
          'consumer-password': b64('consumer-from-install'),
          'admin-password': b64('admin-from-install'),
        },
      },
    ];
    await withFakeCluster(
      () => live,
      async (env) => {
        const renderLive = () => tryRenderAsync(['--dry-run=server', '--show-only', 'templates/secrets.yaml'], env);
        const upgrade = await renderLive();
        expect(upgrade.ok, upgrade.stderr).toBe(true);
        expect(password(upgrade.objects)).toBe('password-from-install');
        expect(Buffer.from(secretOf(upgrade.objects).data!['app-password']!, 'base64').toString()).toBe('app-password-from-install');
        expect(Buffer.from(find(upgrade.objects, 'Secret', `${F}-nats-users`).data!['consumer-password']!, 'base64').toString()).toBe(
          'consumer-from-install',
        );
        // A Secret from before the app role existed: its password is kept, the missing key generated.
        live = [
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${F}-postgresql` }, data: { password: b64('password-from-install') } },
        ];
        const older = await renderLive();
        expect(password(older.objects)).toBe('password-from-install');
        expect(Buffer.from(secretOf(older.objects).data!['app-password']!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
        live = []; // a fresh install: new random passwords
        const install = await renderLive();
        expect(install.ok, install.stderr).toBe(true);
        expect(password(install.objects)).toMatch(/^[A-Za-z0-9]{32}$/);
      },
    );
  });

  it('existingSecret: no Secret rendered, everything points at it', () => {
    const objs = render(
      set({
        'postgresql.auth.existingSecret': 'my-pg',
        'postgresql.auth.passwordKey': 'pw',
        'postgresql.auth.appPasswordKey': 'app-pw',
        'nats.auth.existingSecret': 'my-nats',
      }),
    );
    expect(byKind(objs, 'Secret')).toHaveLength(0);
    const pg = podOf(find(objs, 'StatefulSet', `${F}-postgresql`)).spec.containers[0];
    expect(envOf(pg).POSTGRES_PASSWORD).toEqual({ secretKeyRef: { name: 'my-pg', key: 'pw' } });
    expect(envOf(podOf(migrationJob(objs)).spec.containers[0]).POSTGRES_PASSWORD).toEqual({
      secretKeyRef: { name: 'my-pg', key: 'pw' },
    });
    expect(envOf(podOf(find(objs, 'Deployment', `${F}-consumer`)).spec.containers[0]).APP_DB_PASSWORD).toEqual({
      secretKeyRef: { name: 'my-pg', key: 'app-pw' },
    });
    expect(envOf(podOf(find(objs, 'Deployment', `${F}-consumer`)).spec.containers[0]).NATS_PASSWORD).toEqual({
      secretKeyRef: { name: 'my-nats', key: 'consumer-password' },
    });
  });

  it('the apps may not use the superuser', () => {
    expect(tryRender(set({ 'postgresql.auth.appUsername': 'events' })).stderr).toContain(
      'postgresql.auth.appUsername must differ from postgresql.auth.username',
    );
  });
});

describe('NATS', () => {
  it('1 server by default: no cluster block, STREAM_REPLICAS=1', () => {
    const conf = find(defaults, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    expect(conf).not.toMatch(/cluster \{/);
    expect(find(defaults, 'StatefulSet', `${F}-nats`).spec.replicas).toBe(1);
    expect(envOf(podOf(find(defaults, 'Deployment', `${F}-consumer`)).spec.containers[0]).STREAM_REPLICAS).toBe('1');
  });

  it('3 servers: JetStream cluster with routes to every pod over the headless Service; streams follow', () => {
    const objs = render(ciValues('nats-cluster-values.yaml'));
    const sts = find(objs, 'StatefulSet', `${F}-nats`);
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.serviceName).toBe(`${F}-nats-headless`);
    const headless = find(objs, 'Service', `${F}-nats-headless`);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    const conf = find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    // With route credentials (the default) the URLs come from the env, the password inside them.
    expect(conf).toMatch(/routes: \[\s*\$NATS_ROUTE_0\s*\$NATS_ROUTE_1\s*\$NATS_ROUTE_2\s*\]/);
    const natsEnv = envOf(sts.spec.template.spec.containers[0]);
    const routes = [0, 1, 2].map((i) => /^nats:\/\/route:\$\(NATS_ROUTE_PASSWORD\)@(\S+):6222$/.exec(natsEnv[`NATS_ROUTE_${i}`])?.[1]);
    expect(routes).toEqual([0, 1, 2].map((i) => `${F}-nats-${i}.${F}-nats-headless.${NAMESPACE}.svc`));
    expect(conf).toMatch(/server_name: \$SERVER_NAME/);
    expect(envOf(sts.spec.template.spec.containers[0]).SERVER_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    // The consumer creates the streams; ingest does not read their settings.
    expect(envOf(podOf(find(objs, 'Deployment', `${F}-consumer`)).spec.containers[0]).STREAM_REPLICAS).toBe('3');
    expect(envOf(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.containers[0]).STREAM_REPLICAS).toBeUndefined();
    // A config change rolls the servers.
    const before = sts.spec.template.metadata.annotations['checksum/config'];
    expect(before).not.toBe(find(defaults, 'StatefulSet', `${F}-nats`).spec.template.metadata.annotations['checksum/config']);
  });

  it.skipIf(!tool('nats-server'))('the pinned nats-server accepts the rendered configuration (1 and 3 servers)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nats-conf-'));
    try {
      for (const replicas of [1, 3]) {
        const conf = find(render(set({ 'nats.replicas': replicas })), 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
        const file = path.join(dir, `nats-${replicas}.conf`);
        writeFileSync(file, conf);
        // The pod's environment: its name, and the users' passwords from the Secret.
        const env = {
          ...process.env,
          SERVER_NAME: `${F}-nats-0`,
          NATS_INGEST_PASSWORD: 'a',
          NATS_CONSUMER_PASSWORD: 'b',
          NATS_ADMIN_PASSWORD: 'c',
          NATS_ROUTE_PASSWORD: 'd',
          NATS_ROUTE_0: 'nats://route:d@127.0.0.1:6222',
          NATS_ROUTE_1: 'nats://route:d@127.0.0.2:6222',
          NATS_ROUTE_2: 'nats://route:d@127.0.0.3:6222',
          NATS_DEAD_LETTERS_PASSWORD: 'e',
        };
        const r = spawnSync(tool('nats-server')!, ['-c', file, '-t'], { encoding: 'utf8', env });
        expect(r.status, r.stderr + r.stdout).toBe(0);
      }
      // And it does reject a broken one (the check is real).
      const bad = path.join(dir, 'bad.conf');
      writeFileSync(bad, 'jetstream { max_file_stor: 1Gi }\n');
      expect(spawnSync(tool('nats-server')!, ['-c', bad, '-t']).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const c = podOf(find(defaults, 'StatefulSet', `${F}-nats`)).spec.containers[0];
    expect(c.command).toEqual(['nats-server', '--config', '/etc/nats-config/nats.conf']);
    expect(c.lifecycle.preStop.exec.command).toEqual(['nats-server', '--signal', 'ldm=/var/run/nats/nats.pid']);
  });

  it('apps connect to the client Service', () => {
    const c = podOf(find(defaults, 'Deployment', `${F}-consumer`)).spec.containers[0];
    expect(envOf(c).NATS_URL).toBe(`nats://${F}-nats.${NAMESPACE}.svc:4222`);
    expect(find(defaults, 'Service', `${F}-nats`).spec.ports).toEqual([{ name: 'client', port: 4222, targetPort: 'client' }]);
  });
});

describe('external NATS and PostgreSQL', () => {
  const objs = render(ciValues('external-values.yaml'));

  it('renders neither StatefulSet nor their Services/Secrets', () => {
    expect(byKind(objs, 'StatefulSet')).toHaveLength(0);
    expect(objs.filter((o) => /-(nats|postgresql)/.test(o.metadata.name) && o.kind !== 'NetworkPolicy')).toEqual([]);
  });

  it('passes the external URLs and credentials from Secrets', () => {
    for (const name of ['ingest', 'consumer']) {
      const env = envOf(podOf(find(objs, 'Deployment', `${F}-${name}`)).spec.containers[0]);
      expect(env.NATS_URL).toMatch(/^nats:\/\/nats-0\.nats-headless\.nats\.svc:4222,/);
      expect(env.NATS_USER).toEqual({ secretKeyRef: { name: 'nats-credentials', key: `${name}-user` } });
      expect(env.NATS_PASSWORD).toEqual({ secretKeyRef: { name: 'nats-credentials', key: `${name}-password` } });
      expect(env.DATABASE_URL).toEqual({ secretKeyRef: { name: 'pubsub-database', key: 'url' } });
      expect(env.STREAM_REPLICAS).toBe(name === 'consumer' ? '3' : undefined);
      expect(env.POSTGRES_PASSWORD).toBeUndefined();
    }
  });

  it('externalDatabase.url is stored in a chart Secret', () => {
    const o = render(set({ 'postgresql.enabled': false, 'externalDatabase.url': 'postgresql://u:p@db.example:5432/events' }));
    const s = find(o, 'Secret', `${F}-database`);
    expect(Buffer.from(s.data!['database-url']!, 'base64').toString()).toBe('postgresql://u:p@db.example:5432/events');
    expect(envOf(podOf(migrationJob(o)).spec.containers[0]).DATABASE_URL).toEqual({
      secretKeyRef: { name: `${F}-database`, key: 'database-url' },
    });
  });
});

describe('scaling', () => {
  it('HPA on CPU replaces the fixed replica count', () => {
    const objs = render(ciValues('hpa-values.yaml'));
    for (const [name, min, max] of [
      ['ingest', 2, 8],
      ['consumer', 2, 4],
    ] as const) {
      expect(find(objs, 'Deployment', `${F}-${name}`).spec.replicas).toBeUndefined();
      const hpa = find(objs, 'HorizontalPodAutoscaler', `${F}-${name}`);
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: `${F}-${name}` });
      expect(hpa.spec).toMatchObject({ minReplicas: min, maxReplicas: max });
      expect(hpa.spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
    }
    expect(byKind(defaults, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(find(defaults, 'Deployment', `${F}-ingest`).spec.replicas).toBe(2);
  });
});

describe('ingest configuration', () => {
  it('maps values to the documented env vars', () => {
    const objs = render(
      set({
        'ingest.maxBatchSize': 50,
        'consumer.persistMode': 'per-event',
        'consumer.batchSize': 100,
        'config.stream.maxBytes': 1073741824,
      }),
    );
    const ingest = envOf(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.containers[0]);
    const consumer = envOf(podOf(find(objs, 'Deployment', `${F}-consumer`)).spec.containers[0]);
    expect(ingest).toMatchObject({
      MAX_BATCH_SIZE: '50',
      STREAM_NAME: 'EVENTS',
      CONSUMER_NAME: 'event-writer',
      MAX_TOPICS: '10000',
      HOST: '0.0.0.0',
      REQUEST_TIMEOUT_MS: '30000',
    });
    expect(consumer).toMatchObject({
      PERSIST_MODE: 'per-event',
      BATCH_SIZE: '100',
      CONSUMER_NAME: 'event-writer',
      STREAM_MAX_BYTES: '1073741824',
      DLQ_MAX_BYTES: '268435456',
      BATCH_LINGER_MS: '20',
    });
    expect(consumer.MAX_BATCH_SIZE).toBeUndefined();
    expect(consumer.REQUEST_TIMEOUT_MS).toBeUndefined();
    expect(ingest.STREAM_MAX_BYTES).toBeUndefined();
    expect(ingest.BATCH_LINGER_MS).toBeUndefined();
    expect(consumer.MAX_TOPICS).toBeUndefined();
    expect(ingest.STREAM_MAX_AGE_MS).toBeUndefined();
    expect(ingest.BATCH_SIZE).toBeUndefined();
    expect(ingest.AUTH_PUBLISH_TOKENS).toBeUndefined();
    expect(ingest.RATE_LIMIT_MAX).toBeUndefined();
  });

  it('auth tokens come from a Secret; rate limits are optional env', () => {
    const objs = render(ciValues('hpa-values.yaml'));
    const env = envOf(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.containers[0]);
    expect(env.AUTH_PUBLISH_TOKENS).toEqual({ secretKeyRef: { name: `${F}-auth`, key: 'publish-tokens', optional: true } });
    expect(env.AUTH_READ_TOKENS).toEqual({ secretKeyRef: { name: `${F}-auth`, key: 'read-tokens', optional: true } });
    expect(env).toMatchObject({ RATE_LIMIT_MAX: '1000', RATE_LIMIT_WINDOW_MS: '1000' });
    const secret = find(objs, 'Secret', `${F}-auth`);
    expect(Buffer.from(secret.data!['publish-tokens']!, 'base64').toString()).toBe('publish-token-1,load-token-1');
    // The helm test sends a token too.
    expect(envOf(find(objs, 'Pod', `${F}-test-publish`).spec.containers[0]).AUTH_READ_TOKENS).toBeDefined();
  });

  it('passes TRUST_PROXY to ingest and the retry schedule of refused messages to the consumer', () => {
    const defaults = render([]);
    const ingestEnv = (objs: typeof defaults) => envOf(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.containers[0]);
    const consumerEnv = (objs: typeof defaults) => envOf(podOf(find(objs, 'Deployment', `${F}-consumer`)).spec.containers[0]);
    expect(ingestEnv(defaults).TRUST_PROXY).toBe('false');
    expect(consumerEnv(defaults)).toMatchObject({ CONSUMER_RETRY_DELAY_MS: '500', CONSUMER_RETRY_DELAY_MAX_MS: '10000' });
    expect(consumerEnv(defaults).TRUST_PROXY).toBeUndefined();
    const objs = render(set({ 'ingest.trustProxy': '10.0.0.0/8', 'consumer.retryDelayMs': 250, 'consumer.retryDelayMaxMs': 4000 }));
    expect(ingestEnv(objs).TRUST_PROXY).toBe('10.0.0.0/8');
    expect(consumerEnv(objs)).toMatchObject({ CONSUMER_RETRY_DELAY_MS: '250', CONSUMER_RETRY_DELAY_MAX_MS: '4000' });
  });

  it('keeps /metrics off the ingest Service with ingest.metricsOnApiPort=false; the scrape target stays the metrics port', () => {
    const ingestOf = (objs: ReturnType<typeof render>) => podOf(find(objs, 'Deployment', `${F}-ingest`));
    expect(envOf(ingestOf(render([])).spec.containers[0]).METRICS_ON_API_PORT).toBe('true');
    const objs = render(set({ 'ingest.metricsOnApiPort': false }));
    const pod = ingestOf(objs);
    expect(envOf(pod.spec.containers[0])).toMatchObject({ METRICS_ON_API_PORT: 'false', METRICS_PORT: '9091' });
    expect(find(objs, 'Service', `${F}-ingest-metrics`).spec.ports[0].port).toBe(9091);
  });

  it('passes the retention to the consumer only: off by default; a retention of a year renders as an integer', () => {
    const defaults = render([]);
    const envIn = (objs: typeof defaults, app: string) => envOf(podOf(find(objs, 'Deployment', `${F}-${app}`)).spec.containers[0]);
    expect(envIn(defaults, 'consumer')).toMatchObject({
      EVENTS_RETENTION_MS: '0',
      RETENTION_PURGE_INTERVAL_MS: '60000',
      RETENTION_BATCH_ROWS: '5000',
      RETENTION_BATCH_PAUSE_MS: '100',
    });
    expect(envIn(defaults, 'ingest').EVENTS_RETENTION_MS).toBeUndefined();
    const objs = render(set({ 'consumer.retentionMs': 31_536_000_000, 'consumer.purgeIntervalMs': 30_000 }));
    expect(envIn(objs, 'consumer')).toMatchObject({ EVENTS_RETENTION_MS: '31536000000', RETENTION_PURGE_INTERVAL_MS: '30000' });
  });

  it('a read-only or publish-only token setup leaves the other scope without a key (unset, so open), never empty', () => {
    const decoded = (objs: K8sObject[]) =>
      Object.fromEntries(Object.entries(find(objs, 'Secret', `${F}-auth`).data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(decoded(render(ciValues('auth-read-only-values.yaml')))).toEqual({
      'read-tokens': 'read-token-1',
      'load-test-token': 'read-token-1',
    });
    expect(decoded(render(['--set', 'auth.enabled=true', '--set', 'auth.publishTokens={p1,p2}']))).toEqual({
      'publish-tokens': 'p1,p2',
      'load-test-token': 'p1',
    });
    // Both variables stay optional references: a missing key means the variable is not set at all.
    const env = envOf(podOf(find(render(ciValues('auth-read-only-values.yaml')), 'Deployment', `${F}-ingest`)).spec.containers[0]);
    expect(env.AUTH_PUBLISH_TOKENS.secretKeyRef.optional).toBe(true);
    expect(tryRender(['--set', 'auth.enabled=true']).stderr).toContain('auth.enabled=true needs auth.publishTokens and/or auth.readTokens');
  });

  it('ingest pods roll when the tokens change (revoked tokens stop working at the upgrade), not otherwise', () => {
    const checksum = (tokens: string) =>
      find(render(['--set', 'auth.enabled=true', '--set', `auth.readTokens={${tokens}}`]), 'Deployment', `${F}-ingest`).spec.template
        .metadata.annotations['checksum/auth'];
    expect(checksum('r1')).toBe(checksum('r1'));
    expect(checksum('r1')).not.toBe(checksum('r2'));
    expect(find(defaults, 'Deployment', `${F}-ingest`).spec.template.metadata.annotations['checksum/auth']).toBeUndefined();
    // The consumer does not read tokens: it does not roll for them.
    const consumer = (tokens: string) =>
      find(render(['--set', 'auth.enabled=true', '--set', `auth.readTokens={${tokens}}`]), 'Deployment', `${F}-consumer`).spec.template
        .metadata.annotations;
    expect(consumer('r1')).toEqual(consumer('r2'));
  });

  it('NodePort for kind', () => {
    const objs = render(['-f', path.join(CHART, '../../k8s/values-kind.yaml')]);
    const svc = find(objs, 'Service', `${F}-ingest`);
    expect(svc.spec.type).toBe('NodePort');
    expect(svc.spec.ports[0]).toMatchObject({ port: 8080, nodePort: 30080, targetPort: 'http' });
  });
});

describe('observability', () => {
  it('scrape annotations on the app pods', () => {
    // ingest: its metrics-only port.
    for (const [name, port] of [
      ['ingest', '9091'],
      ['consumer', '9090'],
    ]) {
      const ann = find(defaults, 'Deployment', `${F}-${name}`).spec.template.metadata.annotations;
      expect(ann).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': port, 'prometheus.io/path': '/metrics' });
    }
    const off = render(set({ 'metrics.podAnnotations': false }));
    expect(find(off, 'Deployment', `${F}-ingest`).spec.template.metadata.annotations['prometheus.io/scrape']).toBeUndefined();
  });

  it('optional ServiceMonitors select the ingest metrics and consumer Services, only where the CRD is served', () => {
    expect(byKind(defaults, 'ServiceMonitor')).toHaveLength(0);
    // Enabled, but the cluster has no Prometheus Operator: nothing that would fail the install.
    expect(byKind(render(ciValues('hpa-values.yaml')), 'ServiceMonitor')).toHaveLength(0);
    const objs = render([...ciValues('hpa-values.yaml'), '--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor']);
    for (const [name, service, port] of [
      ['ingest', `${F}-ingest-metrics`, 'metrics'],
      ['consumer', `${F}-consumer`, 'http'],
    ] as const) {
      const sm = find(objs, 'ServiceMonitor', `${F}-${name}`);
      const svc = find(objs, 'Service', service);
      expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
      expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels?.[k] === v)).toBe(true);
      expect(sm.spec.endpoints[0]).toMatchObject({ port, path: '/metrics' });
      expect(svc.spec.ports.map((p: any) => p.name)).toContain(port);
    }
    // The metrics port is on a ClusterIP Service of its own, never on the (NodePort) API Service.
    const kind = render(['-f', path.join(CHART, '../../k8s/values-kind.yaml')]);
    expect(find(kind, 'Service', `${F}-ingest`).spec.ports.map((p: any) => p.name)).toEqual(['http']);
    expect(find(kind, 'Service', `${F}-ingest-metrics`).spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'metrics', port: 9091, targetPort: 'metrics' }],
    });
    const ingest = podOf(find(kind, 'Deployment', `${F}-ingest`)).spec.containers[0];
    expect(ingest.ports).toContainEqual({ name: 'metrics', containerPort: 9091, protocol: 'TCP' });
    expect(envOf(ingest).METRICS_PORT).toBe('9091');
  });

  it('Grafana dashboard ConfigMap (off by default) for the sidecar, with every required panel', () => {
    expect(defaults.find((o) => o.metadata.name === `${F}-dashboard`)).toBeUndefined();
    const objs = render(set({ 'grafanaDashboard.enabled': true }));
    const cm = find(objs, 'ConfigMap', `${F}-dashboard`);
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data!['pubsub-aggregator.json']!);
    const exprs = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)).join('\n');
    for (const metric of [
      'ingest_events_accepted_total',
      'ingest_events_broker_duplicate_total',
      'consumer_events_persisted_total',
      'consumer_events_db_duplicate_total',
      'consumer_batch_duration_seconds_bucket',
      'consumer_accept_to_commit_seconds_bucket',
      'consumer_pending_messages',
      'http_request_duration_seconds_bucket',
      'jetstream_buffer_bytes',
      'jetstream_buffer_oldest_age_seconds',
      'jetstream_dead_letter_messages',
      'jetstream_dead_letter_bytes',
      'ingest_unavailable_responses_total',
    ])
      expect(exprs, metric).toContain(metric);
    expect(exprs).toMatch(/histogram_quantile\(0\.99/);
  });
});

describe('helm test and k6', () => {
  it('the test pod is a helm test hook that publishes and reads back through the ingest Service', () => {
    const pod = find(defaults, 'Pod', `${F}-test-publish`);
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(pod.spec.restartPolicy).toBe('Never');
    const c = pod.spec.containers[0];
    expect(c.command).toEqual(['node', '/scripts/helm-test.cjs']);
    expect(envOf(c).INGEST_URL).toBe(`http://${F}-ingest.${NAMESPACE}.svc:8080`);
    expect(pod.metadata.labels?.['app.kubernetes.io/component']).toBe('test');
  });

  it('k6 Job is off by default and runs the script against the ingest Service when enabled', () => {
    expect(defaults.filter((o) => o.metadata.name.includes('k6'))).toEqual([]);
    const objs = render(ciValues('hpa-values.yaml'));
    const job = find(objs, 'Job', `${F}-k6-1`);
    const c = job.spec.template.spec.containers[0];
    expect(c.image).toMatch(/^grafana\/k6:\d+\.\d+\.\d+$/);
    expect(c.args).toEqual(['run', '/scripts/publish.ts']);
    expect(envOf(c).BASE_URL).toBe(`http://${F}-ingest.${NAMESPACE}.svc:8080`);
    expect(envOf(c).EVENTS).toBe('2000');
    // A re-run must not replay the last run's ids: the seed is the Job's render time unless pinned.
    expect(Number(envOf(c).SEED)).toBeGreaterThan(Date.UTC(2026, 0, 1) / 1000);
    expect(
      envOf(podOf(find(render([...ciValues('hpa-values.yaml'), '--set', 'k6.env.SEED=42']), 'Job', `${F}-k6-1`)).spec.containers[0]).SEED,
    ).toBe('42');
    // Its teardown waits up to 120 s for the counts; k6 would stop it after 60 s.
    expect(envOf(c).K6_TEARDOWN_TIMEOUT).toBe('180s');
    // Exact counts, but no latency threshold, unless the values pick a profile: a slow node must
    // not fail an exact run.
    expect(envOf(c).PROFILE).toBe('smoke');
    expect(envOf(podOf(find(render(['--set', 'k6.enabled=true']), 'Job', `${F}-k6-1`)).spec.containers[0]).PROFILE).toBe('cluster');
    // With auth on it sends a token that has both scopes.
    expect(envOf(c).TOKEN).toEqual({ secretKeyRef: { name: `${F}-auth`, key: 'load-test-token' } });
    expect(Buffer.from(find(objs, 'Secret', `${F}-auth`).data!['load-test-token']!, 'base64').toString()).toBe('load-token-1');
    expect(
      tryRender([
        '--set',
        'k6.enabled=true',
        '--set',
        'auth.enabled=true',
        '--set',
        'auth.publishTokens={p}',
        '--set',
        'auth.readTokens={r}',
      ]).stderr,
    ).toContain('needs one token that is in auth.publishTokens and in auth.readTokens');
    // It starts only once ingest is ready (k6's own setup gives up after 60 s).
    const [wait] = job.spec.template.spec.initContainers;
    expect(wait.command).toEqual(['node', '/wait/wait-for.cjs']);
    // Its init container runs the app image, from the same registry as the other pods.
    expect(job.spec.template.spec.imagePullSecrets).toBeUndefined();
    const pulled = find(render(['--set', 'k6.enabled=true', '--set', 'imagePullSecrets[0].name=registry']), 'Job', `${F}-k6-1`);
    expect(pulled.spec.template.spec.imagePullSecrets).toEqual([{ name: 'registry' }]);
    expect(envOf(wait)).toMatchObject({ WAIT_FOR: 'url', WAIT_URL: `http://${F}-ingest.${NAMESPACE}.svc:8080/readyz` });
    // The repo's own script and everything it imports, byte for byte. The pod only has /scripts,
    // so an import from outside load/ (../shared) would break the Job: check the whole closure
    // (type-only imports are erased when k6 strips the types).
    const data = find(objs, 'ConfigMap', `${F}-k6-script`).data!;
    const loadDir = path.join(CHART, '..', '..', 'load');
    const closure = new Set<string>();
    const visit = (file: string) => {
      if (closure.has(file)) return;
      closure.add(file);
      const source = readFileSync(path.join(loadDir, file), 'utf8');
      for (const [, spec] of source.matchAll(/^import (?!type )[^;]*? from '(\.[^']+)';/gm)) {
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[\w-]+\.ts$/);
        visit(spec!.slice(2));
      }
    };
    visit('publish.ts');
    expect([...closure].sort()).toEqual(['count-check.ts', 'profiles.ts', 'publish.ts', 'retry-policy.ts', 'workload.ts']);
    for (const f of closure) expect(data[f]).toBe(readFileSync(path.join(loadDir, f), 'utf8'));
  });
});

describe('NOTES.txt', () => {
  it('prints the port-forward, /stats and helm test commands for the release', async () => {
    // helm only renders NOTES.txt on install; render it here through tpl in a copy of the chart.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-notes-'));
    try {
      const chart = path.join(dir, 'pubsub-aggregator');
      cpSync(CHART, chart, { recursive: true });
      cpSync(path.join(CHART, 'templates/NOTES.txt'), path.join(chart, 'files/notes.txt'));
      writeFileSync(
        path.join(chart, 'templates/notes-under-test.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "files/notes.txt") . | quote }}\n',
      );
      const r = await tryRenderAsync(
        ['--show-only', 'templates/notes-under-test.yaml', '-f', path.join(CHART, '../../k8s/values-kind.yaml')],
        {},
        chart,
      );
      expect(r.ok, r.stderr).toBe(true);
      const notes = r.objects[0]!.data!.notes!;
      // kind maps the NodePort to localhost:8080: a port-forward there would collide with it.
      expect(notes).not.toMatch(/port-forward \S+ 8080:/);
      expect(notes).toContain(`kubectl -n ${NAMESPACE} port-forward svc/${F}-ingest 18080:8080`);
      expect(notes).toContain('curl -s localhost:18080/stats');
      expect(notes).toContain('http://localhost:8080 already');
      expect(notes).toContain(`helm test pubsub-aggregator -n ${NAMESPACE} --logs`);
      expect(notes).toContain('NodePort 30080');
      expect(notes).toContain(migrationJob(render(['-f', path.join(CHART, '../../k8s/values-kind.yaml')])).metadata.name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('labels', () => {
  it('every object carries the release labels; selectors match their pod templates', () => {
    for (const o of defaults) {
      expect(o.metadata.labels?.['app.kubernetes.io/instance'], `${o.kind}/${o.metadata.name}`).toBe('pubsub-aggregator');
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
    }
    for (const w of byKind(defaults, 'Deployment').concat(byKind(defaults, 'StatefulSet'))) {
      const labels = w.spec.template.metadata.labels;
      for (const [k, v] of Object.entries(w.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    }
    for (const svc of byKind(defaults, 'Service')) {
      const targets = workloads(defaults).filter((w) => Object.entries(svc.spec.selector).every(([k, v]) => podOf(w).labels[k] === v));
      expect(targets.length, `Service ${svc.metadata.name} selects a workload`).toBeGreaterThan(0);
      expect(
        targets.every((w) => w.kind !== 'Job' && w.kind !== 'Pod'),
        svc.metadata.name,
      ).toBe(true);
    }
  });
});

describe('app start-up', () => {
  it.each(['ingest', 'consumer'])(
    '%s: a startupProbe covers STARTUP_TIMEOUT_MS (+60 s) before liveness may kill a pod still connecting to its dependencies',
    (component) => {
      const probe = (args: string[] = []) => podOf(find(render(args), 'Deployment', `${F}-${component}`)).spec.containers[0].startupProbe;
      const p = probe();
      expect(p.httpGet).toEqual({ path: '/healthz', port: 'http' });
      // (120 s + 60 s) / 5 s
      expect(p.periodSeconds * p.failureThreshold).toBe(180);
      const longer = probe(set({ 'config.startupTimeoutMs': 300_500 }));
      expect(longer.periodSeconds * longer.failureThreshold).toBeGreaterThanOrEqual(361);
      expect(probe(set({ [`${component}.startupProbe.failureThreshold`]: 7 })).failureThreshold).toBe(7);
    },
  );
});

describe('NATS users', () => {
  it('each app connects as its own user; passwords come from a kept Secret into the NATS pods as env, never into the ConfigMap', () => {
    const secret = find(defaults, 'Secret', `${F}-nats-users`);
    // route-password only with 3 servers (nats-routes.test.ts).
    expect(Object.keys(secret.data!).sort()).toEqual(['admin-password', 'consumer-password', 'dead-letters-password', 'ingest-password']);
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    for (const role of ['ingest', 'consumer']) {
      const env = envOf(podOf(find(defaults, 'Deployment', `${F}-${role}`)).spec.containers[0]);
      expect(env.NATS_USER).toBe(role);
      expect(env.NATS_PASSWORD).toEqual({ secretKeyRef: { name: `${F}-nats-users`, key: `${role}-password` } });
    }
    // The migration Job does not talk to NATS.
    expect(envOf(podOf(migrationJob(defaults)).spec.containers[0]).NATS_PASSWORD).toBeUndefined();
    const nats = podOf(find(defaults, 'StatefulSet', `${F}-nats`)).spec.containers[0];
    for (const role of ['INGEST', 'CONSUMER', 'ADMIN', 'DEAD_LETTERS']) {
      expect(envOf(nats)[`NATS_${role}_PASSWORD`]).toEqual({
        secretKeyRef: { name: `${F}-nats-users`, key: `${role.toLowerCase().replace('_', '-')}-password` },
      });
    }
    const conf = find(defaults, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    expect(conf).toMatch(/user: ingest\s+password: \$NATS_INGEST_PASSWORD/);
    for (const v of Object.values(secret.data!)) expect(conf).not.toContain(Buffer.from(v, 'base64').toString());
  });

  it('permissions follow the stream and consumer names', () => {
    const conf = find(render(set({ 'config.stream.name': 'LOGS', 'config.consumer.name': 'w2' })), 'ConfigMap', `${F}-nats-config`).data![
      'nats.conf'
    ]!;
    expect(conf).toContain('"$JS.API.STREAM.CREATE.LOGS_DLQ"');
    expect(conf).toContain('"$JS.API.CONSUMER.MSG.NEXT.LOGS.w2"');
    expect(conf).toContain('"counters.LOGS.>"');
    expect(conf).not.toContain('EVENTS');
  });

  it('nats.auth.enabled=false renders no users, no Secret, no credentials', () => {
    const objs = render(set({ 'nats.auth.enabled': false }));
    expect(find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']).not.toContain('authorization');
    expect(objs.find((o) => o.metadata.name === `${F}-nats-users`)).toBeUndefined();
    expect(envOf(podOf(find(objs, 'Deployment', `${F}-ingest`)).spec.containers[0]).NATS_USER).toBeUndefined();
  });

  it('NATS pods roll when the passwords in the values change', () => {
    const ann = (pw: string) =>
      find(render(set({ 'nats.auth.passwords.ingest': pw })), 'StatefulSet', `${F}-nats`).spec.template.metadata.annotations[
        'checksum/users'
      ];
    expect(ann('aaaaaaaa')).toBe(ann('aaaaaaaa'));
    expect(ann('aaaaaaaa')).not.toBe(ann('bbbbbbbb'));
  });

  it('generated passwords start with a letter, and the schema refuses a NATS password that does not', () => {
    // nats-server reads a password from its environment as a config value: 3e4f... is the number 3e4
    // followed by garbage, and the server does not start (seen on the lab with a hex password).
    for (const name of [`${F}-nats-users`, `${F}-postgresql`]) {
      for (const v of Object.values(find(defaults, 'Secret', name).data!)) expect(Buffer.from(v, 'base64').toString()).toMatch(/^[A-Za-z]/);
    }
    const r = tryRender(set({ 'nats.auth.passwords.ingest': '3e4f00aa' }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/passwords\/ingest/);
  });

  it('k8s/nats-values.yaml (official chart) grants the same permissions as the built-in NATS', () => {
    const official = parse(readFileSync(path.join(CHART, '../../k8s/nats-values.yaml'), 'utf8'));
    const users = official.config.merge.authorization.users as Array<{
      user: string;
      permissions?: { publish: { allow: string[] }; subscribe: { allow: string[] } };
    }>;
    const conf = find(defaults, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    for (const role of ['ingest', 'consumer', 'dead-letters']) {
      const block = conf.slice(conf.indexOf(`user: ${role}`));
      const publish = [...block.slice(block.indexOf('publish'), block.indexOf('subscribe')).matchAll(/"([^"]+)"/g)].map((m) => m[1]);
      const subscribe = [
        ...block.slice(block.indexOf('subscribe'), block.indexOf('}', block.indexOf('subscribe'))).matchAll(/"([^"]+)"/g),
      ].map((m) => m[1]);
      const u = users.find((x) => x.user === role)!;
      expect(u.permissions!.publish.allow, role).toEqual(publish);
      expect(u.permissions!.subscribe.allow, role).toEqual(subscribe);
    }
  });

  it('external NATS: each app gets its own credentials from externalNats.existingSecret', () => {
    const objs = render(ciValues('external-values.yaml'));
    for (const role of ['ingest', 'consumer']) {
      const env = envOf(podOf(find(objs, 'Deployment', `${F}-${role}`)).spec.containers[0]);
      expect(env.NATS_USER).toEqual({ secretKeyRef: { name: 'nats-credentials', key: `${role}-user` } });
      expect(env.NATS_PASSWORD).toEqual({ secretKeyRef: { name: 'nats-credentials', key: `${role}-password` } });
    }
  });
});

describe('external database', () => {
  it('the migration uses the owner URL, the apps their own URL when given', () => {
    const objs = render(
      set({
        'postgresql.enabled': false,
        'externalDatabase.url': 'postgresql://owner:p@db:5432/e',
        'externalDatabase.appUrl': 'postgresql://app:q@db:5432/e',
      }),
    );
    const s = find(objs, 'Secret', `${F}-database`);
    expect(Buffer.from(s.data!['app-database-url']!, 'base64').toString()).toBe('postgresql://app:q@db:5432/e');
    expect(envOf(podOf(migrationJob(objs)).spec.containers[0]).DATABASE_URL).toEqual({
      secretKeyRef: { name: `${F}-database`, key: 'database-url' },
    });
    for (const name of ['ingest', 'consumer']) {
      const { spec } = podOf(find(objs, 'Deployment', `${F}-${name}`));
      for (const c of [spec.initContainers[0], spec.containers[0]])
        expect(envOf(c).DATABASE_URL).toEqual({ secretKeyRef: { name: `${F}-database`, key: 'app-database-url' } });
    }
    const own = render(
      set({ 'postgresql.enabled': false, 'externalDatabase.existingSecret': 'db', 'externalDatabase.appSecretKey': 'app-url' }),
    );
    expect(envOf(podOf(find(own, 'Deployment', `${F}-ingest`)).spec.containers[0]).DATABASE_URL).toEqual({
      secretKeyRef: { name: 'db', key: 'app-url' },
    });
    expect(envOf(podOf(migrationJob(own)).spec.containers[0]).DATABASE_URL).toEqual({
      secretKeyRef: { name: 'db', key: 'database-url' },
    });
  });
});

describe('images pinned by digest', () => {
  it('nats.image.digest and postgresql.image.digest pin the third-party images', () => {
    const d = 'sha256:' + 'b'.repeat(64);
    const objs = render(set({ 'nats.image.digest': d, 'postgresql.image.digest': d }));
    expect(podOf(find(objs, 'StatefulSet', `${F}-nats`)).spec.containers[0].image).toBe(`nats:2.15.3-alpine@${d}`);
    expect(podOf(find(objs, 'StatefulSet', `${F}-postgresql`)).spec.containers[0].image).toMatch(
      new RegExp(`^postgres:15\\.\\d+-bookworm@${d}$`),
    );
    expect(tryRender(set({ 'postgresql.image.digest': 'latest' })).stderr).toMatch(/\/postgresql\/image\/digest/);
  });

  it('PostgreSQL defaults to a 15.x patch release newer than 15.10', () => {
    const image = podOf(find(defaults, 'StatefulSet', `${F}-postgresql`)).spec.containers[0].image as string;
    const patch = Number(/^postgres:15\.(\d+)-/.exec(image)![1]);
    expect(patch).toBeGreaterThan(10);
  });
});

describe('NATS memory and storage', () => {
  it('GOMEMLIMIT is a share of the memory limit, absent without one', () => {
    const env = (args: string[]) => envOf(podOf(find(render(args), 'StatefulSet', `${F}-nats`)).spec.containers[0]);
    expect(env([]).GOMEMLIMIT).toBe(String(Math.floor(1024 ** 3 * 0.9)));
    expect(env(set({ 'nats.resources.limits.memory': '512Mi', 'nats.goMemLimitPercent': 80 })).GOMEMLIMIT).toBe(
      String(Math.floor(512 * 1024 ** 2 * 0.8)),
    );
    expect(env(set({ 'nats.resources.limits.memory': '2G' })).GOMEMLIMIT).toBe(String(Math.floor(2e9 * 0.9)));
    expect(env(['--set', 'nats.resources.limits=null']).GOMEMLIMIT).toBeUndefined();
  });

  it('GOMAXPROCS is nats.goMaxProcs (1 by default), absent at 0 (Go decides)', () => {
    const env = (args: string[]) => envOf(podOf(find(render(args), 'StatefulSet', `${F}-nats`)).spec.containers[0]);
    expect(env([]).GOMAXPROCS).toBe('1');
    expect(env(set({ 'nats.goMaxProcs': 4 })).GOMAXPROCS).toBe('4');
    expect(env(set({ 'nats.goMaxProcs': 0 })).GOMAXPROCS).toBeUndefined();
  });

  it('the JetStream file store may not exceed its PVC (NATS and Kubernetes units)', () => {
    expect(tryRender(set({ 'nats.jetstream.fileStore.maxSize': '9Gi', 'nats.jetstream.fileStore.pvc.size': '10Gi' })).ok).toBe(true);
    expect(tryRender(set({ 'nats.jetstream.fileStore.maxSize': '10G', 'nats.jetstream.fileStore.pvc.size': '10Gi' })).ok).toBe(true);
    expect(tryRender(set({ 'nats.jetstream.fileStore.maxSize': '10GB', 'nats.jetstream.fileStore.pvc.size': '10G' })).stderr).toContain(
      'exceeds nats.jetstream.fileStore.pvc.size',
    );
    expect(tryRender(set({ 'nats.jetstream.fileStore.maxSize': '3Gi', 'nats.jetstream.fileStore.pvc.size': '2Gi' })).stderr).toContain(
      'nats.jetstream.fileStore.maxSize (3Gi) exceeds',
    );
  });
});

describe('nats.replicas on a live release', () => {
  const sts = (replicas: number): K8sObject => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: `${F}-nats` },
    spec: { replicas },
  });

  it('an upgrade that changes it is refused with what to do; keeping it, or a fresh install, passes', async () => {
    let live = [sts(1)];
    await withFakeCluster(
      () => live,
      async (env) => {
        const upgrade = (replicas: number) =>
          tryRenderAsync(['--dry-run=server', '--set', `nats.replicas=${replicas}`, '--show-only', 'templates/nats.yaml'], env);
        const refused = await upgrade(3);
        expect(refused.ok).toBe(false);
        expect(refused.stderr).toContain('nats.replicas cannot change on an existing release (it runs 1, this upgrade asks for 3)');
        expect(refused.stderr).toContain('Changing nats.replicas');
        expect((await upgrade(1)).ok).toBe(true);
        live = [sts(3)];
        expect((await upgrade(1)).stderr).toContain('it runs 3, this upgrade asks for 1');
        live = [];
        expect((await upgrade(3)).ok).toBe(true);
      },
    );
  });
});

describe('labels on pods', () => {
  it('commonLabels reach every pod template but never a selector', () => {
    const objs = render(['--set', 'commonLabels.team=data', ...ciValues('hpa-values.yaml')]);
    for (const w of workloads(objs)) expect(podOf(w).labels.team, `${w.kind}/${w.metadata.name}`).toBe('data');
    for (const o of [...byKind(objs, 'Deployment'), ...byKind(objs, 'StatefulSet')])
      expect(o.spec.selector.matchLabels.team).toBeUndefined();
    for (const svc of byKind(objs, 'Service')) expect(svc.spec.selector.team).toBeUndefined();
  });
});

describe('PostgreSQL StatefulSet', () => {
  it('is governed by a headless Service; clients use the ClusterIP one', () => {
    const sts = find(defaults, 'StatefulSet', `${F}-postgresql`);
    const headless = find(defaults, 'Service', sts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(find(defaults, 'Service', `${F}-postgresql`).spec.clusterIP).toBeUndefined();
  });
});
