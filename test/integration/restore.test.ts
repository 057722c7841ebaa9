// Backup and restore of the whole pipeline with the chart's scripts (files/backup.sh, restore.sh)
// on real nats-server and PostgreSQL: the restore procedure (restore before any consumer runs on
// the new installation) and a database restored behind a NATS that was kept.
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import { firstOccurrences, generateWorkload } from '../../load/workload.ts';
import { runBackupScript } from '../../scripts/lib/backup-scripts.ts';
import { migrate } from '../../scripts/lib/postgres.ts';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { ROOT } from '../chart/helm.ts';
import { startTestStack, type TestStack } from './support.ts';

const BEHIND = 'the database is behind the event stream';
const stacks: TestStack[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) removeDir(d);
});

async function stack() {
  const s = await startTestStack();
  stacks.push(s);
  return s;
}

async function backup(databaseUrl: string): Promise<{ dir: string; file: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'restore-test-'));
  dirs.push(dir);
  const r = await runBackupScript('backup.sh', { DATABASE_URL: databaseUrl, BACKUP_DIR: dir, BACKUP_KEEP: '1' });
  expect(r.code, r.out).toBe(0);
  return { dir, file: readdirSync(dir)[0]! };
}

async function restore(databaseUrl: string, b: { dir: string; file: string }) {
  const r = await runBackupScript('restore.sh', { DATABASE_URL: databaseUrl, BACKUP_DIR: b.dir, RESTORE_FILE: b.file });
  expect(r.code, r.out).toBe(0);
}

async function lastSeq(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    return (await (await jetstreamManager(nc)).streams.info('EVENTS')).state.last_seq;
  } finally {
    await nc.close();
  }
}

const logsMentioning = (s: TestStack, text: string) =>
  s
    .logFiles()
    .filter((f) => existsSync(f))
    .map(
      (f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => l.includes(text)).length,
    )
    .reduce((a, b) => a + b, 0);

describe('backup and restore', () => {
  it('restored into a new installation before its consumer starts: the stream continues after the restored sequences; re-sends are duplicates; exact', async () => {
    const a = await stack();
    await a.start('consumer');
    const ingestA = await a.start('ingest');
    const w1 = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed: 231 });
    expect((await sendEvents(w1.events, { baseUrl: ingestA.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    const before = await waitForStats(ingestA.url, (s) => s.unique_processed >= w1.unique && s.queue_depth === 0, 60_000);
    const seqAtBackup = await lastSeq(a.nats.url);
    const dump = await backup(a.pg.url);

    // Everything lost (both volumes): a new installation, restored before its consumer first runs.
    const b = await stack();
    await restore(b.pg.url, dump);
    await b.start('consumer');
    const ingestB = await b.start('ingest');
    const nc = await connect({ servers: b.nats.url });
    expect((await (await jetstreamManager(nc)).streams.info('EVENTS')).config.first_seq).toBe(seqAtBackup + 1);
    await nc.close();

    const w2 = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed: 232 });
    const resent = firstOccurrences(w1.events).slice(0, 500);
    expect((await sendEvents(w2.events, { baseUrl: ingestB.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    expect((await sendEvents(resent, { baseUrl: ingestB.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    const unique = w1.unique + w2.unique;
    const s = await waitForStats(ingestB.url, (x) => x.unique_processed >= unique && x.queue_depth === 0, 60_000);
    expect(s.unique_processed).toBe(unique);
    expect(s.database_rows).toBe(unique);
    // The database's duplicate counts came back with the dump; the broker's stayed in the lost NATS.
    expect(s.duplicates_by_layer.database).toBeGreaterThanOrEqual(before.duplicates_by_layer.database + resent.length);
    expect(s.duplicate_dropped).toBe(before.duplicates_by_layer.database + w2.duplicates + resent.length);
    expect(s.received).toBe(s.unique_processed + s.duplicate_dropped);
    expect(s.dead_lettered).toBe(0);
    const db = new pg.Client({ connectionString: b.pg.url });
    await db.connect();
    const { rows } = await db.query('SELECT count(*)::int AS n, count(DISTINCT (topic, event_id))::int AS d FROM processed_events');
    await db.end();
    expect(rows[0]).toEqual({ n: unique, d: unique });
    expect(logsMentioning(b, BEHIND)).toBe(0);
  });

  it('PostgreSQL restored while NATS was kept: the consumer says once, loudly, how many acknowledged events the database lacks', async () => {
    const s = await stack();
    const consumer = await s.start('consumer');
    const ingest = await s.start('ingest');
    const w1 = generateWorkload({ events: 1_000, duplicateRate: 0, seed: 233 });
    expect((await sendEvents(w1.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    await waitForStats(ingest.url, (x) => x.unique_processed >= w1.unique && x.queue_depth === 0, 60_000);
    const dump = await backup(s.pg.url);
    const seqAtBackup = await lastSeq(s.nats.url);
    const w2 = generateWorkload({ events: 700, duplicateRate: 0, seed: 234 });
    expect((await sendEvents(w2.events, { baseUrl: ingest.url, batchSize: 50, concurrency: 4 })).failed).toBe(0);
    await waitForStats(ingest.url, (x) => x.unique_processed >= w1.unique + w2.unique && x.queue_depth === 0, 60_000);
    const seqNow = await lastSeq(s.nats.url);
    await Promise.all([consumer.stop('SIGTERM'), ingest.stop('SIGTERM')]);
    expect(logsMentioning(s, BEHIND)).toBe(0);

    // The database replaced by the backup (a fresh schema, then the dump), NATS untouched.
    const db = new pg.Client({ connectionString: s.pg.url });
    await db.connect();
    await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await db.end();
    migrate(s.pg.url, ROOT);
    await restore(s.pg.url, dump);

    const again = await s.start('consumer');
    const metrics = await (await fetch(`${again.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^consumer_acked_sequences_not_stored(\\{[^}]*\\})? ${seqNow - seqAtBackup}$`, 'm'));
    expect(seqNow - seqAtBackup).toBe(w2.events.length);
    expect(logsMentioning(s, BEHIND)).toBe(1);
  });
});
