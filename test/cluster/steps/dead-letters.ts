// Cluster step: dead letters on a real release, operated as docs/kubernetes.md says. PostgreSQL
// refuses one event_id (a trigger created with `kubectl exec` in the postgres pod), the consumer
// dead-letters it after 3 deliveries, the tool lists it from inside a consumer pod as the
// `dead-letters` NATS user, the trigger is dropped, the replay stores it once; /stats is checked
// exact (received = unique + duplicates + queue + dead_lettered) before and after.
import type { DeadLetterList } from '../../../apps/dead-letters/cli.ts';
import { waitForStats } from '../../../load/client.ts';
import type { StatsReply } from '../../../shared/stats-reply.ts';
import { check } from '../check.ts';
import type { Kube } from '../kube.ts';

export interface DeadLettersStepContext {
  kube: Kube;
  ns: string;
  /** The Helm release name (objects are named `<release>-...`). */
  release: string;
  /** Where ingest answers (the NodePort URL), and the tokens if /stats or /publish need one. */
  url: string;
  readToken?: string;
  publishToken?: string;
  /** helm args of an upgrade of the installed release with `sets` (name=value), waiting for the rollout. */
  upgradeArgs: (ns: string, sets: string[]) => string[];
  /** Tells event ids of this run apart from earlier ones on a kept volume. */
  runId: string;
}

const TRIGGER = `
CREATE OR REPLACE FUNCTION cluster_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.topic = 'cluster.dead-letters' AND NEW.event_id LIKE 'poison-%' THEN
    RAISE EXCEPTION 'refused by the cluster test' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS cluster_refuse_poison ON processed_events;
CREATE TRIGGER cluster_refuse_poison BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION cluster_refuse_poison();`;
const DROP = `DROP TRIGGER IF EXISTS cluster_refuse_poison ON processed_events; DROP FUNCTION IF EXISTS cluster_refuse_poison();`;

const exact = (s: StatsReply) => s.received === s.unique_processed + s.duplicate_dropped + s.queue_depth + s.dead_lettered;
const line = (s: StatsReply) =>
  `received ${s.received} = unique ${s.unique_processed} + duplicates ${s.duplicate_dropped} + queue ${s.queue_depth} + dead_lettered ${s.dead_lettered} (held ${s.dead_letters_held})`;

/** Runs the step; returns what it checked, for the suite's step line. Leaves the release as it found it. */
export async function deadLettersStep(ctx: DeadLettersStepContext): Promise<string> {
  const { kube, ns, release } = ctx;
  const settled = (what: string, pred: (s: StatsReply) => boolean) =>
    waitForStats(ctx.url, (s) => s.queue_depth === 0 && pred(s), 180_000, ctx.readToken).catch((err: Error) => {
      throw new Error(`${what}: ${err.message}`, { cause: err });
    });
  const sql = (statements: string) =>
    kube.kubectl(
      [
        '-n',
        ns,
        'exec',
        '-i',
        `${release}-postgresql-0`,
        '-c',
        'postgresql',
        '--',
        'sh',
        '-c',
        // The superuser over loopback, with the pod's own credentials (nothing leaves the pod).
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 -q -f -',
      ],
      { input: statements, timeoutMs: 60_000 },
    );
  // The tool inside a consumer pod, as the dead-letters user; the password goes in on stdin, never
  // on a command line (docs/kubernetes.md, "Dead letters").
  const secret = await kube.json(['-n', ns, 'get', 'secret', `${release}-nats-users`]);
  const password = Buffer.from(secret.data['dead-letters-password'] as string, 'base64').toString('utf8');
  const tool = (...args: string[]) =>
    kube.kubectl(
      [
        '-n',
        ns,
        'exec',
        '-i',
        `deploy/${release}-consumer`,
        '-c',
        'consumer',
        '--',
        'env',
        '-u',
        'NATS_PASSWORD',
        'NATS_USER=dead-letters',
        'NATS_PASSWORD_FILE=/dev/stdin',
        'node',
        'dist/apps/main.js',
        'dead-letters',
        ...args,
      ],
      { input: password, timeoutMs: 120_000 },
    );

  const t0 = Date.now();
  const before = await settled('settled before the step', () => true);
  check(exact(before), `before: ${line(before)}`);
  // The settings this step changes, as the release has them now: put back at the end.
  const values = JSON.parse(await kube.helm(['get', 'values', release, '-n', ns, '--all', '-o', 'json']));
  const restore = [
    `config.consumer.maxDeliver=${values.config.consumer.maxDeliver}`,
    `consumer.retryDelayMs=${values.consumer.retryDelayMs}`,
    `consumer.retryDelayMaxMs=${values.consumer.retryDelayMaxMs}`,
  ];
  // 3 deliveries 0.2-0.8 s apart: dead-lettered within seconds instead of the defaults' minute.
  await kube.helm(ctx.upgradeArgs(ns, ['config.consumer.maxDeliver=3', 'consumer.retryDelayMs=200', 'consumer.retryDelayMaxMs=1000']));
  const parts: string[] = [];
  try {
    await sql(TRIGGER);
    const poisonId = `poison-${ctx.runId}`;
    const events = [poisonId, ...Array.from({ length: 9 }, (_, i) => `ok-${ctx.runId}-${i}`)].map((event_id) => ({
      topic: 'cluster.dead-letters',
      event_id,
      timestamp: new Date().toISOString(),
    }));
    const res = await fetch(`${ctx.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(ctx.publishToken ? { authorization: `Bearer ${ctx.publishToken}` } : {}) },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(30_000),
    });
    check(res.status === 202, `POST /publish answered ${res.status}`);

    const dead = await settled('the refused event dead-lettered', (s) => s.dead_lettered === before.dead_lettered + 1);
    check(exact(dead), `after dead-lettering: ${line(dead)}`);
    check(dead.unique_processed === before.unique_processed + 9, `unique +${dead.unique_processed - before.unique_processed}, expected +9`);
    check(dead.dead_letters_held === before.dead_letters_held + 1, `held ${before.dead_letters_held} -> ${dead.dead_letters_held}`);
    parts.push(`dead-lettered after 3 deliveries: ${line(dead)}`);

    const listed = JSON.parse(await tool('list', '--json', '--topic', 'cluster.dead-letters')) as DeadLetterList;
    const item = listed.items.find((d) => d.event_id === poisonId);
    check(item, `list (kubectl exec in a consumer pod) did not show ${poisonId}: ${JSON.stringify(listed.items)}`);
    check(item.deliveries === 3 && /refused by the cluster test/.test(item.reason), `listed as ${JSON.stringify(item)}`);
    parts.push(`listed from a consumer pod as dead-letters: seq ${item.seq}, 3 deliveries, "${item.reason.slice(0, 60)}"`);

    await sql(DROP);
    const replayed = await tool('replay', '--seq', String(item.seq));
    check(/replayed 1, skipped 0/.test(replayed), `replay said: ${replayed.trim()}`);
    const after = await settled('the replayed event stored', (s) => s.unique_processed === dead.unique_processed + 1);
    check(exact(after), `after the replay: ${line(after)}`);
    check(after.received === dead.received + 1, `received ${dead.received} -> ${after.received}, expected +1 (the replay)`);
    check(
      after.dead_lettered === dead.dead_lettered,
      `dead_lettered changed by the replay: ${dead.dead_lettered} -> ${after.dead_lettered}`,
    );
    check(
      after.dead_letters_held === dead.dead_letters_held - 1,
      `held ${dead.dead_letters_held} -> ${after.dead_letters_held}, expected -1`,
    );
    check(after.database_rows === dead.database_rows + 1, `database_rows ${dead.database_rows} -> ${after.database_rows}`);
    parts.push(`trigger dropped, replayed and stored once: ${line(after)}`);
  } finally {
    await sql(DROP).catch(() => {});
    await kube.helm(ctx.upgradeArgs(ns, restore));
  }
  parts.push(`${((Date.now() - t0) / 1000).toFixed(1)} s, settings restored`);
  return parts.join('\n');
}
