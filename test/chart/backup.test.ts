// The backup CronJob and the restore Job: what the chart renders (helm template), and the scripts
// they run (files/backup.sh, files/restore.sh) run for real here, as the pods run them (bash, the
// PostgreSQL client tools on PATH), against a real PostgreSQL with the project's schema.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackupScript } from '../../scripts/lib/backup-scripts.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { sleep } from '../../shared/retry.ts';
import { CHART, ROOT, allowed, envOf, find, render, set, tryRender, type Endpoint, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
const RESTORE = set({
  'backup.enabled': true,
  'backup.restore.file': 'pubsub-20261207T021700Z.dump',
  'ingest.replicaCount': 0,
  'consumer.replicaCount': 0,
});
const cronPod = (o: K8sObject) => ({
  labels: o.spec.jobTemplate.spec.template.metadata.labels,
  spec: o.spec.jobTemplate.spec.template.spec,
});

describe('backup chart objects', () => {
  it('are off by default', () => {
    const objs = render();
    expect(objs.filter((o) => o.metadata.name.endsWith('-backup') || o.metadata.name.endsWith('-restore'))).toEqual([]);
    expect(Object.keys(find(objs, 'ConfigMap', `${F}-scripts`).data!)).not.toContain('backup.sh');
  });

  it('backup.enabled: a kept PVC and a CronJob running backup.sh as the schema owner, like the other pods', () => {
    const objs = render(
      set({ 'backup.enabled': true, 'backup.keep': 3, 'backup.schedule': '0 */6 * * *', 'backup.persistence.size': '20Gi' }),
    );
    const pvc = find(objs, 'PersistentVolumeClaim', `${F}-backup`);
    expect(pvc.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(pvc.spec.resources.requests.storage).toBe('20Gi');
    const cron = find(objs, 'CronJob', `${F}-backup`);
    expect(cron.spec).toMatchObject({ schedule: '0 */6 * * *', concurrencyPolicy: 'Forbid' });
    const { labels, spec } = cronPod(cron);
    expect(labels['app.kubernetes.io/component']).toBe('backup');
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    const c = spec.containers[0];
    expect(c.image).toBe('postgres:15.20-bookworm');
    expect(c.command).toEqual(['bash', '/scripts/backup.sh']);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.resources.limits.memory).toBeTruthy();
    const env = envOf(c);
    expect(env.BACKUP_KEEP).toBe('3');
    expect(env.BACKUP_DIR).toBe('/backups');
    // The superuser's password from the chart's PostgreSQL Secret, in the admin DATABASE_URL.
    expect(env.POSTGRES_PASSWORD).toEqual({ secretKeyRef: { name: `${F}-postgresql`, key: 'password' } });
    expect(env.DATABASE_URL).toBe(`postgresql://events:$(POSTGRES_PASSWORD)@${F}-postgresql.pubsub.svc:5432/events`);
    expect(spec.volumes.find((v: any) => v.name === 'backups').persistentVolumeClaim.claimName).toBe(`${F}-backup`);
    // The scripts the pods run are the chart's files, byte for byte.
    const scripts = find(objs, 'ConfigMap', `${F}-scripts`).data!;
    for (const f of ['backup.sh', 'restore.sh', 'libpq-url.sh'])
      expect(scripts[f], f).toBe(readFileSync(path.join(CHART, 'files', f), 'utf8').trimEnd());
  });

  it('reads the credentials from postgresql.auth.existingSecret, or from the external database Secret', () => {
    const own = cronPod(
      find(render(set({ 'backup.enabled': true, 'postgresql.auth.existingSecret': 'pg-creds' })), 'CronJob', `${F}-backup`),
    );
    expect(envOf(own.spec.containers[0]).POSTGRES_PASSWORD.secretKeyRef.name).toBe('pg-creds');
    const external = render(['-f', path.join(CHART, 'ci/external-values.yaml'), ...set({ 'backup.enabled': true })]);
    const ext = cronPod(find(external, 'CronJob', `${F}-backup`));
    expect(envOf(ext.spec.containers[0]).DATABASE_URL).toEqual({ secretKeyRef: { name: 'pubsub-database', key: 'url' } });
  });

  it('a Job binds the new PVC at install (helm --wait waits for it under WaitForFirstConsumer); new spec, new name', () => {
    const volumeJobs = (objs: ReturnType<typeof render>) =>
      objs.filter((o) => o.kind === 'Job' && o.metadata.name.startsWith(`${F}-backup-volume-`));
    const objs = render(set({ 'backup.enabled': true }));
    const [job] = volumeJobs(objs);
    const pod = job!.spec.template.spec;
    expect(pod.volumes.find((v: any) => v.name === 'backups').persistentVolumeClaim.claimName).toBe(`${F}-backup`);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999 });
    expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    const other = volumeJobs(render(set({ 'backup.enabled': true, 'backup.image.tag': '15.99-bookworm' })))[0]!;
    expect(other.metadata.name).not.toBe(job!.metadata.name);
    expect(volumeJobs(render(set({ 'backup.enabled': true, 'backup.persistence.existingClaim': 'old-dumps' })))).toEqual([]);
  });

  it('an existing claim is used and no PVC is created', () => {
    const objs = render(set({ 'backup.enabled': true, 'backup.persistence.existingClaim': 'old-dumps' }));
    expect(objs.filter((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name.includes('backup'))).toEqual([]);
    const { spec } = cronPod(find(objs, 'CronJob', `${F}-backup`));
    expect(spec.volumes.find((v: any) => v.name === 'backups').persistentVolumeClaim.claimName).toBe('old-dumps');
  });

  it('backup.restore.file: a restore Job that waits for the migrations, then runs restore.sh with the dump read-only', () => {
    const objs = render(RESTORE);
    const job = find(objs, 'Job', `${F}-restore`);
    const spec = job.spec.template.spec;
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['wait-for-migrations']);
    const c = spec.containers[0];
    expect(c.command).toEqual(['bash', '/scripts/restore.sh']);
    expect(envOf(c).RESTORE_FILE).toBe('pubsub-20261207T021700Z.dump');
    expect(c.volumeMounts.find((m: any) => m.name === 'backups')).toMatchObject({ mountPath: '/backups', readOnly: true });
    expect(find(objs, 'Deployment', `${F}-consumer`).spec.replicas).toBe(0);
  });

  it('refuses a restore while a consumer or ingest would run, or without the dumps volume; the schema bounds the values', () => {
    for (const [args, msg] of [
      [set({ 'backup.enabled': true, 'backup.restore.file': 'x.dump', 'ingest.replicaCount': 0 }), /consumer.replicaCount=0/],
      [set({ 'backup.enabled': true, 'backup.restore.file': 'x.dump', 'consumer.replicaCount': 0 }), /ingest.replicaCount=0/],
      [[...RESTORE, ...set({ 'consumer.autoscaling.enabled': true })], /consumer.autoscaling.enabled=false/],
      [set({ 'backup.restore.file': 'x.dump', 'ingest.replicaCount': 0, 'consumer.replicaCount': 0 }), /needs the dumps' volume/],
      [set({ 'backup.keep': 0 }), /\/backup\/keep/],
      [set({ 'backup.restore.file': '../etc/passwd' }), /\/backup\/restore\/file/],
      [set({ 'backup.restore.file': 'x.dump.partial' }), /\/backup\/restore\/file/],
    ] as const) {
      const r = tryRender([...args]);
      expect(r.ok, String(msg)).toBe(false);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('NetworkPolicy: the backup and restore pods reach PostgreSQL and DNS only', () => {
    const objs = render(RESTORE);
    const backup: Endpoint = { labels: cronPod(find(objs, 'CronJob', `${F}-backup`)).labels };
    const restore: Endpoint = { labels: find(objs, 'Job', `${F}-restore`).spec.template.metadata.labels };
    const podOf = (kind: string, name: string): Endpoint => ({ labels: find(objs, kind, name).spec.template.metadata.labels });
    const postgres = podOf('StatefulSet', `${F}-postgresql`);
    const nats = podOf('StatefulSet', `${F}-nats`);
    const ingest = podOf('Deployment', `${F}-ingest`);
    const dns: Endpoint = { labels: { 'k8s-app': 'kube-dns' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' } };
    const internet: Endpoint = { labels: {}, ip: '203.0.113.9' };
    for (const [name, ep] of Object.entries({ backup, restore })) {
      expect(allowed(objs, ep, postgres, 5432), name).toBe(true);
      expect(allowed(objs, ep, dns, 53, 'UDP'), name).toBe(true);
      expect(allowed(objs, ep, nats, 4222), name).toBe(false);
      expect(allowed(objs, ep, ingest, 8080), name).toBe(false);
      expect(allowed(objs, ep, internet, 443), name).toBe(false);
      expect(allowed(objs, ingest, ep, 5432), name).toBe(false);
    }
    // An external database: only the destinations networkPolicy.externalDatabaseTo names.
    const external = render(['-f', path.join(CHART, 'ci/external-values.yaml'), ...set({ 'backup.enabled': true })]);
    const extBackup: Endpoint = { labels: cronPod(find(external, 'CronJob', `${F}-backup`)).labels };
    expect(allowed(external, extBackup, { labels: {}, ip: '10.20.3.4' }, 5432)).toBe(true);
    expect(allowed(external, extBackup, { labels: {}, ip: '10.99.3.4' }, 5432)).toBe(false);
    // Without backups, no PostgreSQL ingress rule names them.
    const plain = render();
    expect(allowed(plain, backup, podOfIn(plain, 'StatefulSet', `${F}-postgresql`), 5432)).toBe(false);
  });
});

function podOfIn(objs: K8sObject[], kind: string, name: string): Endpoint {
  return { labels: find(objs, kind, name).spec.template.metadata.labels };
}

// ---- the scripts against a real PostgreSQL -------------------------------------------------------------

const TABLES = ['processed_events', 'duplicate_events', 'topic_counters', 'stream_high_water', 'purged_rows'];

/** Every row of every table, in a stable order, as text: two databases with equal snapshots hold the same data. */
async function snapshot(url: string): Promise<Record<string, string[]>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const t of TABLES) out[t] = (await c.query(`SELECT t::text AS row FROM ${t} t ORDER BY 1`)).rows.map((r) => r.row as string);
    // The id sequence continues where the source's did.
    out.id_seq = [(await c.query(`SELECT last_value::text FROM processed_events_id_seq`)).rows[0].last_value];
    return out;
  } finally {
    await c.end();
  }
}

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const dumps = (dir: string) => readdirSync(dir).sort();

describe('backup.sh and restore.sh against PostgreSQL', () => {
  let server: Postgres;
  let source: string;
  let dir: string;
  const dbUrl = (db: string) => server.url.replace(/\/postgres$/, `/${db}`);

  beforeAll(async () => {
    server = await startPostgres();
    dir = mkdtempSync(path.join(os.tmpdir(), 'backups-'));
    await sql(server.url, 'CREATE DATABASE source');
    source = dbUrl('source');
    migrate(source, ROOT);
    // Rows with everything COPY must escape (tabs, newlines, backslashes, quotes, non-ASCII, JSON null),
    // a purged past (high water, purge counts) and duplicates.
    await sql(
      source,
      `INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, stream_seq, received_at)
         SELECT 'orders.' || (i % 5), 'e-' || i, '2026-12-07T10:00:00.123456Z'::timestamptz + i * interval '1 ms',
                CASE WHEN i % 7 = 0 THEN NULL ELSE 'src' END,
                jsonb_build_object('i', i, 'text', E'tab\\there\\nline "quoted" \\\\ é ✓', 'nothing', NULL),
                1000 + i, now()
           FROM generate_series(1, 3000) i;
       INSERT INTO duplicate_events (stream_seq, topic, event_id, received_at)
         SELECT 5000 + i, 'orders.' || (i % 5), 'e-' || i, now() FROM generate_series(1, 200) i;
       INSERT INTO topic_counters (topic, unique_processed, duplicates_dropped)
         SELECT 'orders.' || k, 600, 40 FROM generate_series(0, 4) k;
       UPDATE stream_high_water SET stream_seq = 999;
       UPDATE purged_rows SET processed_events = 999, duplicate_events = 12;`,
    );
  });
  afterAll(async () => {
    await server?.remove();
    if (dir) removeDir(dir);
  });

  it('writes a complete dump, keeps the newest BACKUP_KEEP, deletes stale partials and never counts them', async () => {
    // A dump a killed run left half-written: not a backup.
    writeFileSync(path.join(dir, 'pubsub-20200101T000000Z.dump.partial'), 'half');
    const env = { DATABASE_URL: `${source}?schema=public&connection_limit=3`, BACKUP_DIR: dir, BACKUP_KEEP: '2' };
    for (let i = 0; i < 3; i++) {
      const r = await runBackupScript('backup.sh', env);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/backup: wrote .*\.dump \(\d+ bytes\)/);
      if (i < 2) await sleep(1_100); // names are per second
    }
    const kept = dumps(dir);
    expect(kept).toHaveLength(2);
    for (const f of kept) expect(f).toMatch(/^pubsub-\d{8}T\d{6}Z\.dump$/);
  });

  it('a run that fails leaves no complete-looking dump and the kept ones untouched', async () => {
    const before = dumps(dir);
    const r = await runBackupScript('backup.sh', { DATABASE_URL: dbUrl('nosuchdb'), BACKUP_DIR: dir, BACKUP_KEEP: '2' });
    expect(r.code).not.toBe(0);
    const after = dumps(dir);
    expect(after.filter((f) => f.endsWith('.dump'))).toEqual(before);
    // At most its own partial, which the next run deletes.
    expect(after.filter((f) => !f.endsWith('.dump')).every((f) => f.endsWith('.dump.partial'))).toBe(true);
    const again = await runBackupScript('backup.sh', { DATABASE_URL: source, BACKUP_DIR: dir, BACKUP_KEEP: '2' });
    expect(again.code, again.out).toBe(0);
    expect(dumps(dir).every((f) => f.endsWith('.dump'))).toBe(true);
    expect(dumps(dir)).toHaveLength(2);
  });

  it('BACKUP_KEEP must be a positive integer', async () => {
    const r = await runBackupScript('backup.sh', { DATABASE_URL: source, BACKUP_DIR: dir, BACKUP_KEEP: '0' });
    expect(r.code).toBe(2);
    expect(r.out).toContain('BACKUP_KEEP must be an integer >= 1');
  });

  it('restores into a freshly migrated database exactly, refuses a second restore, and a dump from a newer schema', async () => {
    const latest = dumps(dir).at(-1)!;
    await sql(server.url, 'CREATE DATABASE target');
    const target = dbUrl('target');
    migrate(target, ROOT);
    const env = { DATABASE_URL: `${target}?schema=public`, BACKUP_DIR: dir, RESTORE_FILE: latest };
    const r = await runBackupScript('restore.sh', env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('restored');
    expect(r.out).toContain(': 3000 events');
    expect(await snapshot(target)).toEqual(await snapshot(source));

    // Not into a database that holds events: nothing changes.
    const twice = await runBackupScript('restore.sh', env);
    expect(twice.code).not.toBe(0);
    expect(twice.out).toMatch(/already holds 3200 event rows/);
    expect(await snapshot(target)).toEqual(await snapshot(source));

    // A dump taken by a release with a migration this database lacks.
    await sql(
      source,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES ('future', 'x', '29991231000000_future', now(), now(), 1)`,
    );
    const newer = mkdtempSync(path.join(os.tmpdir(), 'backups-newer-'));
    try {
      expect((await runBackupScript('backup.sh', { DATABASE_URL: source, BACKUP_DIR: newer, BACKUP_KEEP: '1' })).code).toBe(0);
      await sql(server.url, 'CREATE DATABASE older');
      migrate(dbUrl('older'), ROOT);
      const refused = await runBackupScript('restore.sh', {
        DATABASE_URL: dbUrl('older'),
        BACKUP_DIR: newer,
        RESTORE_FILE: dumps(newer)[0]!,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.out).toContain('migrations 29991231000000_future are not applied here');
      // One transaction: nothing of it was kept.
      expect((await snapshot(dbUrl('older'))).processed_events).toEqual([]);
    } finally {
      removeDir(newer);
    }
  });

  it('refuses a name that is not a complete dump in the directory', async () => {
    for (const file of ['missing.dump', '../x.dump', 'a.dump.partial']) {
      const r = await runBackupScript('restore.sh', { DATABASE_URL: source, BACKUP_DIR: dir, RESTORE_FILE: file });
      expect(r.code, file).toBe(2);
    }
  });
});
