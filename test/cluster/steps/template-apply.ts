// The GitOps path on a real cluster: the chart rendered with `helm template --set gitOps=true` and
// applied with `kubectl apply`, as Argo CD or a pipeline does, twice, with two tags of the same image.
// Nothing keeps revisions or generated passwords there: the run proves that the second render's
// migration Job is a new Job that runs to completion (the first stays, complete, untouched), that
// the pods roll to the second tag, that re-applying a render changes nothing, and that every event
// sent around both applies is stored exactly once with passwords from Secrets the operator made.
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { sendEvents, waitForStats } from '../../../load/client.ts';
import { checkCounts } from '../../../load/count-check.ts';
import { generateWorkload } from '../../../load/workload.ts';
import type { StatsReply } from '../../../shared/stats-reply.ts';
import { splitImage } from '../check.ts';
import type { Kube } from '../kube.ts';

export interface TemplateApplyOptions {
  kube: Kube;
  /** A namespace of its own; created through `createNamespace` (which also schedules its deletion). */
  ns: string;
  createNamespace: (ns: string) => Promise<void>;
  chart: string;
  release: string;
  /** Values files applied first (the kind values, CLUSTER_VALUES). */
  valuesFiles: string[];
  /** repository:tag of the first apply, and of the second: the same image under another tag. */
  imageA: string;
  imageB: string;
  nodePort: number;
  /** Where that NodePort answers. */
  ingestUrl: string;
  seed: number;
  /** Progress lines (the suite's `say`). */
  say?: (line: string) => void;
}

interface Rendered {
  yaml: string;
  migrationJob: string;
}

function fail(message: string): never {
  throw new Error(message);
}

/** Runs the step; resolves with what it saw (for the suite's step line), throws on any difference. */
export async function templateApplyStep(o: TemplateApplyOptions): Promise<string> {
  const { kube, ns, release } = o;
  const say = o.say ?? (() => {});
  if (o.imageA === o.imageB) fail(`the two images must differ by tag, both are ${o.imageA} (set CLUSTER_IMAGE_2)`);
  await o.createNamespace(ns);

  // The Secrets a GitOps setup creates itself (sealed, external-secrets, ...): gitOps=true refuses
  // to render without them.
  const pgSecret = `${release}-own-postgresql`;
  const natsSecret = `${release}-own-nats`;
  // A letter first: nats-server would read e.g. 1e5… from its environment as a number.
  const password = () => `p${randomBytes(18).toString('base64url')}`;
  const secret = (name: string, stringData: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    stringData,
  });
  await kube.apply(ns, secret(pgSecret, { password: password(), 'app-password': password() }));
  await kube.apply(
    ns,
    secret(natsSecret, {
      'ingest-password': password(),
      'consumer-password': password(),
      'admin-password': password(),
      'dead-letters-password': password(),
    }),
  );

  const serverVersion = JSON.parse(await kube.kubectl(['version', '-o', 'json'])).serverVersion.gitVersion as string;
  const render = async (image: string): Promise<Rendered> => {
    const [repository, tag] = splitImage(image);
    const yaml = await kube.helm([
      'template',
      release,
      o.chart,
      '-n',
      ns,
      '--kube-version',
      serverVersion.replace(/^v/, '').replace(/[-+].*$/, ''),
      ...o.valuesFiles.flatMap((f) => ['-f', f]),
      ...['gitOps=true', `postgresql.auth.existingSecret=${pgSecret}`, `nats.auth.existingSecret=${natsSecret}`]
        .concat([`image.repository=${repository}`, `image.tag=${tag}`, `ingest.service.nodePort=${o.nodePort}`])
        // A bare Pod cannot be re-applied with another image (its spec is immutable), and nothing
        // here runs `helm test`: Argo CD runs it as a PostSync hook instead.
        .concat(['tests.enabled=false', 'ingest.replicaCount=2', 'consumer.replicaCount=2'])
        .flatMap((s) => ['--set', s]),
    ]);
    const objects = parseAllDocuments(yaml).map(
      (d) => d.toJS() as { kind?: string; metadata?: { name: string; labels?: Record<string, string> } } | null,
    );
    if (objects.some((x) => x?.kind === 'Secret')) fail('gitOps=true rendered a Secret: it must use only the existing ones');
    const jobs = objects.filter((x) => x?.kind === 'Job' && x.metadata?.labels?.['app.kubernetes.io/component'] === 'migration');
    if (jobs.length !== 1) fail(`expected one migration Job in the render, got ${jobs.length}`);
    return { yaml, migrationJob: jobs[0]!.metadata!.name };
  };
  const apply = (r: Rendered) => kube.kubectl(['-n', ns, 'apply', '-f', '-'], { input: r.yaml, timeoutMs: 120_000 });

  const jobDone = async (name: string) => {
    await kube.kubectl(['-n', ns, 'wait', '--for=condition=complete', `job/${name}`, '--timeout=600s'], { timeoutMs: 11 * 60_000 });
    const job = await kube.json(['-n', ns, 'get', 'job', name]);
    if (job.status?.succeeded !== 1) fail(`migration Job ${name}: ${JSON.stringify(job.status)}`);
  };

  /** Every ingest and consumer pod (and its wait-for-migrations) runs `image`, all ready. */
  const podsOn = async (image: string) => {
    await kube.rolledOut(ns, 10 * 60_000, release);
    const pods = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${release}`])).items.filter(
      (p) => ['ingest', 'consumer'].includes(p.metadata.labels?.['app.kubernetes.io/component']),
    );
    const wrong = pods.filter((p) => [...p.spec.initContainers, ...p.spec.containers].some((c: any) => c.image !== image));
    if (pods.length !== 4 || wrong.length)
      fail(
        `expected 4 ingest/consumer pods on ${image}, got ${pods.map((p) => `${p.metadata.name}=${p.spec.containers[0].image}`).join(', ')}`,
      );
    await kube.until(
      'ingest ready behind the NodePort',
      async () => (await fetch(`${o.ingestUrl}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok,
      120_000,
    );
    return pods.length;
  };

  const stats = (done: (s: StatsReply) => boolean = () => true) => waitForStats(o.ingestUrl, done, 180_000);

  /** Sends a workload and checks the counts moved by exactly it. */
  const exact = async (label: string, seed: number) => {
    const w = generateWorkload({ events: 3_000, duplicateRate: 0.3, seed });
    const before = await stats();
    const r = await sendEvents(w.events, { baseUrl: o.ingestUrl, batchSize: 100, concurrency: 4, maxAttempts: 30 });
    if (r.failed) fail(`${label}: ${r.failed} requests failed after every retry`);
    const after = await stats((s) => s.unique_processed - before.unique_processed >= w.unique && s.queue_depth === 0);
    const verdict = checkCounts(
      { unique: after.unique_processed - before.unique_processed, duplicates: after.duplicate_dropped - before.duplicate_dropped },
      { unique: w.unique, duplicates: w.duplicates },
      r.retriedEvents,
    );
    if (!verdict.exact) fail(`${label}: ${verdict.message}`);
    const rows = after.database_rows - before.database_rows;
    if (rows !== w.unique) fail(`${label}: database_rows grew by ${rows}, expected ${w.unique}`);
    return `${label}: ${w.events.length} events, ${verdict.message}; database_rows +${rows}`;
  };

  const lines: string[] = [];
  const t0 = Date.now();
  const first = await render(o.imageA);
  await apply(first);
  await jobDone(first.migrationJob);
  await podsOn(o.imageA);
  lines.push(
    `apply 1 (${o.imageA}): migration Job ${first.migrationJob} complete, ingest and consumer ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  say(lines.at(-1)!);
  lines.push(await exact('after apply 1', o.seed));

  const second = await render(o.imageB);
  if (second.migrationJob === first.migrationJob) fail(`the second render kept the migration Job name ${first.migrationJob}`);
  const t1 = Date.now();
  await apply(second);
  await jobDone(second.migrationJob);
  await podsOn(o.imageB);
  // kubectl apply prunes nothing: the first Job stays as it was, complete and never re-run.
  const old = await kube.json(['-n', ns, 'get', 'job', first.migrationJob]);
  if (old.status?.succeeded !== 1) fail(`the first migration Job changed: ${JSON.stringify(old.status)}`);
  lines.push(
    `apply 2 (${o.imageB}): new migration Job ${second.migrationJob} complete; pods rolled to the new tag after ${((Date.now() - t1) / 1000).toFixed(0)} s; ${first.migrationJob} left complete`,
  );
  say(lines.at(-1)!);

  // The same render again (a GitOps tool re-syncing): nothing changes, no Job runs again. Judged by
  // the objects, not by apply's words: kubectl 1.31 re-sends a PodDisruptionBudget's and a
  // StatefulSet's selector on every client-side apply and prints "configured" for that no-op
  // (measured on the lab), while the server keeps the object as it was.
  const rendered = await render(o.imageB);
  const versions = async () =>
    (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'deployments,statefulsets,poddisruptionbudgets,jobs,configmaps,services'])).items
      .map((x) => `${x.kind}/${x.metadata.name}@${x.metadata.resourceVersion}`)
      .sort()
      .join(' ');
  const diff = await kube.run(kube.kubectlBin, ['-n', ns, 'diff', '-f', '-'], { input: rendered.yaml, timeoutMs: 120_000 });
  if (diff.code !== 0)
    fail(`kubectl diff of the same render found differences (exit ${diff.code}):\n${(diff.stdout + diff.stderr).slice(-3_000)}`);
  const before = await versions();
  await apply(rendered);
  const after = await versions();
  if (after !== before) fail(`re-applying the same render changed objects:\nbefore ${before}\nafter  ${after}`);
  const jobs = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'jobs'])).items.map((j) => j.metadata.name).sort();
  if (jobs.length !== 2) fail(`jobs after re-applying: ${jobs.join(', ')}`);
  lines.push(`re-applying the second render: kubectl diff empty, no object's resourceVersion moved, jobs ${jobs.join(', ')}`);
  lines.push(await exact('after apply 2', o.seed + 1));
  return lines.join('\n');
}
