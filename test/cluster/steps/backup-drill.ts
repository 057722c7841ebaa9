// The backup and restore drill on a real cluster, as docs/kubernetes.md ("Backup and restore")
// tells an operator to do it: load, back up with the chart's CronJob, lose every volume but the
// backups (NATS's included), reinstall with the apps at 0 replicas and the restore Job, bring the
// apps back, then load more, re-sending events from before the backup. Counts must be exact and no
// event stored twice. run.ts wires it in as a step (it needs that script's install arguments).
import { sendEvents, waitForStats, type SendResult } from '../../../load/client.ts';
import { checkCounts } from '../../../load/count-check.ts';
import { firstOccurrences, generateWorkload } from '../../../load/workload.ts';
import type { Event } from '../../../shared/event.ts';
import type { StatsReply } from '../../../shared/stats-reply.ts';
import { check } from '../check.ts';
import type { Kube } from '../kube.ts';

export interface BackupDrillContext {
  kube: Kube;
  /** A namespace of this run, without the release installed yet (the drill installs it). */
  ns: string;
  /** The release name (run.ts: pubsub-aggregator). */
  release: string;
  /**
   * `helm upgrade --install` arguments for the release in `ns` with these extra arguments appended
   * (run.ts: installArgs), waiting for the rollout. Later `--set`s win, so the drill's replica
   * counts override the defaults.
   */
  installArgs: (ns: string, extra: string[]) => string[];
  /** Where ingest answers (run.ts: ingestUrl()). */
  ingestUrl: () => Promise<string>;
  /** Bearer token for /stats when auth is on. */
  readToken?: string;
  /** Workload seed (different per run, so events never meet those of an earlier run). */
  seed: number;
  /** Progress lines (run.ts: say). */
  log?: (line: string) => void;
  /**
   * A shell command that makes the volumes of deleted PVCs usable again (the lab's `up.sh
   * recycle-pvs`: its hostPath PVs are Released, not deleted); default $CLUSTER_RECYCLE_PVS.
   */
  recyclePvs?: string;
}

const EVENTS = 20_000;

/** Runs the drill; returns what it checked, one line per stage. Throws at the first mismatch. */
export async function backupDrill(ctx: BackupDrillContext): Promise<string> {
  const { kube, ns, release: rel } = ctx;
  const log = ctx.log ?? (() => {});
  const recycle = ctx.recyclePvs ?? process.env.CLUSTER_RECYCLE_PVS ?? '';
  const helmTimeout = { timeoutMs: 12 * 60_000 };
  const lines: string[] = [];
  const note = (line: string) => {
    lines.push(line);
    log(line);
  };
  let url = '';
  const settled = (unique: number): Promise<StatsReply> =>
    waitForStats(url, (s) => s.unique_processed >= unique && s.queue_depth === 0, 300_000, ctx.readToken);
  const ready = async () => {
    url = await ctx.ingestUrl();
    await kube.until('ingest ready', async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok, 300_000, 2_000);
  };
  // A Job's end, complete or failed (its log then says why), without waiting out a timeout.
  const jobDone = async (name: string, container: string) => {
    const outcome = await kube.until(
      `job/${name} finished`,
      async () => {
        const conditions: Array<{ type: string; status: string }> =
          (await kube.json(['-n', ns, 'get', `job/${name}`])).status?.conditions ?? [];
        return conditions.find((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')?.type;
      },
      15 * 60_000,
      2_000,
    );
    const logs = await kube.kubectl(['-n', ns, 'logs', `job/${name}`, '-c', container]);
    check(outcome === 'Complete', `job/${name} failed: ${logs.trim().slice(-1_000)}`);
    return logs;
  };
  const send = async (events: readonly Event[]): Promise<SendResult> => {
    const r = await sendEvents(events, { baseUrl: url, batchSize: 100, concurrency: 8, maxAttempts: 30 });
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    return r;
  };

  // 1. Install with backups on, load 20k events.
  await kube.helm(ctx.installArgs(ns, ['--set', 'backup.enabled=true']), helmTimeout);
  await kube.rolledOut(ns, 10 * 60_000, rel);
  await ready();
  const w1 = generateWorkload({ events: EVENTS, duplicateRate: 0.3, seed: ctx.seed });
  const r1 = await send(w1.events);
  const before = await settled(w1.unique);
  const c1 = checkCounts(
    { unique: before.unique_processed, duplicates: before.duplicate_dropped },
    { unique: w1.unique, duplicates: w1.duplicates },
    r1.retriedEvents,
  );
  check(c1.exact && before.database_rows === w1.unique, `before the backup: ${c1.message}, database_rows ${before.database_rows}`);
  note(`loaded ${EVENTS} events: ${c1.message}`);

  // 2. One backup now, from the CronJob's own template.
  const job = `${rel}-backup-drill-${Date.now().toString(36)}`;
  await kube.kubectl(['-n', ns, 'create', 'job', `--from=cronjob/${rel}-backup`, job]);
  const backupLog = await jobDone(job, 'backup');
  const dump = /backup: wrote \/backups\/(pubsub-\d{8}T\d{6}Z\.dump) \((\d+) bytes\)/.exec(backupLog);
  check(dump, `no dump named in the backup Job's log: ${backupLog.trim().slice(-500)}`);
  note(`backup Job ${job} wrote ${dump[1]} (${dump[2]} bytes)`);

  // 3. Everything lost but the backups: uninstall, every PVC deleted but the backup PVC, NATS's too.
  await kube.helm(['uninstall', rel, '-n', ns, '--wait', '--timeout', '5m'], helmTimeout);
  await kube.until(
    'the release pods gone',
    async () => (await kube.pods(ns, `app.kubernetes.io/instance=${rel}`)).length === 0,
    300_000,
    2_000,
  );
  const pvcs = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'pvc'])).items.map((p) => p.metadata.name as string);
  const backupPvc = `${rel}-backup`;
  check(pvcs.includes(backupPvc), `the backup PVC did not survive the uninstall: ${pvcs.join(', ')}`);
  const doomed = pvcs.filter((p) => p !== backupPvc);
  check(
    doomed.some((p) => p.includes('nats')) && doomed.some((p) => p.includes('postgresql')),
    `expected NATS and PostgreSQL PVCs, have ${pvcs.join(', ')}`,
  );
  await kube.kubectl(['-n', ns, 'delete', 'pvc', ...doomed, '--wait=true', '--timeout=5m'], { timeoutMs: 6 * 60_000 });
  if (recycle) {
    const r = await kube.run('sh', ['-c', recycle], { timeoutMs: 5 * 60_000 });
    check(r.code === 0, `${recycle} exited ${r.code}: ${(r.stdout + r.stderr).trim().slice(-1_000)}`);
  }
  note(`uninstalled; deleted PVCs ${doomed.join(', ')}; kept ${backupPvc}${recycle ? `; ran ${recycle}` : ''}`);

  // 4. Reinstall with the apps at 0 replicas and the restore Job; wait for it.
  await kube.helm(
    ctx.installArgs(ns, [
      '--set',
      'backup.enabled=true',
      '--set',
      `backup.restore.file=${dump[1]}`,
      '--set',
      'ingest.replicaCount=0',
      '--set',
      'consumer.replicaCount=0',
    ]),
    helmTimeout,
  );
  const restoreLog = await jobDone(`${rel}-restore`, 'restore');
  const restored = /restore: restored \S+ in (\d+) s: (\d+) events/.exec(restoreLog);
  check(restored && Number(restored[2]) === w1.unique, `restore Job: ${restoreLog.trim().slice(-500)}`);
  note(`restore Job loaded ${restored[2]} events in ${restored[1]} s, before any consumer ran`);

  // 5. The apps back (no restore.file: the Job goes): the consumer creates the stream after the
  //    restored sequences.
  await kube.helm(ctx.installArgs(ns, ['--set', 'backup.enabled=true']), helmTimeout);
  await kube.rolledOut(ns, 10 * 60_000, rel);
  await ready();
  const after = await settled(w1.unique);
  check(
    after.unique_processed === w1.unique &&
      after.database_rows === w1.unique &&
      after.duplicates_by_layer.database === before.duplicates_by_layer.database &&
      after.dead_lettered === 0,
    `after the restore: unique ${after.unique_processed}, rows ${after.database_rows}, database duplicates ${after.duplicates_by_layer.database} (before ${before.duplicates_by_layer.database}), dead letters ${after.dead_lettered}`,
  );
  note(
    `restored: ${after.unique_processed} unique, ${after.database_rows} rows, ${after.duplicates_by_layer.database} database duplicates as before; ` +
      `broker duplicates ${before.duplicates_by_layer.broker} -> ${after.duplicates_by_layer.broker} (kept in NATS: lost with its volume)`,
  );

  // 6. More load, with re-sends of events stored before the backup: each is a duplicate, none stored twice.
  const w2 = generateWorkload({ events: EVENTS / 2, duplicateRate: 0.3, seed: ctx.seed + 1_000 });
  const resent = firstOccurrences(w1.events).slice(0, 2_000);
  const r2 = await send([...w2.events, ...resent]);
  const end = await settled(w1.unique + w2.unique);
  const c2 = checkCounts(
    { unique: end.unique_processed - after.unique_processed, duplicates: end.duplicate_dropped - after.duplicate_dropped },
    { unique: w2.unique, duplicates: w2.duplicates + resent.length },
    r2.retriedEvents,
  );
  check(c2.exact, `after the restore: ${c2.message}`);
  check(end.received === end.unique_processed + end.duplicate_dropped + end.dead_lettered, `received ${end.received} is not the sum`);
  const sql = 'SELECT count(*), count(DISTINCT (topic, event_id)) FROM processed_events';
  const counted = (
    await kube.kubectl(['-n', ns, 'exec', `${rel}-postgresql-0`, '--', 'psql', '-U', 'events', '-d', 'events', '-At', '-F', ' ', '-c', sql])
  )
    .trim()
    .split(' ')
    .map(Number);
  check(
    counted[0] === end.unique_processed && counted[1] === end.unique_processed && end.database_rows === end.unique_processed,
    `select count(*): ${counted.join(' / ')} (rows / distinct), /stats unique ${end.unique_processed}, database_rows ${end.database_rows}`,
  );
  note(
    `then ${w2.events.length} new events + ${resent.length} re-sent from before the backup: ${c2.message}; ` +
      `select count(*) = count(distinct (topic, event_id)) = unique_processed = ${end.unique_processed}`,
  );
  return lines.join('\n');
}
