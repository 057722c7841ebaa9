// The chart on a real cluster: `npm run test:cluster` against whatever KUBECONFIG points at (kind
// with k8s/kind-config.yaml, or the kube-lab in CI), with an image the cluster already has.
//
//   CLUSTER_IMAGE       repository:tag of the app image in the cluster (default pubsub-aggregator:dev, or
//                       when no node has that, the image the quick start's release in `pubsub` runs)
//   CLUSTER_MIGRATE_IMAGE  repository:tag of the migrate image (the Dockerfile's `migrate` target;
//                       default: CLUSTER_IMAGE's repository + "-migrate", same tag, as the chart derives it)
//   CLUSTER_VALUES      extra values files, comma-separated (e.g. test/cluster/values-lab.yaml)
//   CLUSTER_NODE_PORT   ingest NodePort (default 30080, which kind-config.yaml maps to localhost:8080;
//                       when another Service holds 30080, a free one is picked, reached on the node's IP)
//   CLUSTER_INGEST_URL  where that NodePort answers (default: localhost:8080 on a kind-* context,
//                       else http://<first node's InternalIP>:<node port>)
//   CLUSTER_NATS        value sets to run: "1", "3" or "1,3" (default) NATS servers
//   CLUSTER_KEEP=1      keep the namespaces after a failure, to look around
//   CLUSTER_IMAGE_2     the same image under a second tag, for the `helm template | kubectl apply`
//                       step's second apply (default: that step is skipped, and says so); the migrate
//                       image must have that tag too
//   CLUSTER_RECYCLE_PVS a shell command run after each namespace is deleted, making the volumes of
//                       its PVCs usable again (the lab's `up.sh recycle-pvs`: its PVs are retained)
//   CLUSTER_STEPS       the later steps to run, comma-separated: gitops, dead-letters, backup, skaffold
//                       (default all; skaffold: skaffold run, the port-forward workload, skaffold dev)
//   CLUSTER_SKAFFOLD_PROFILES  skaffold's -p for the skaffold steps (default: kind on a kind-* context,
//                       else containerd; the kube-lab needs containerd,kube-lab). The environment goes
//                       to skaffold and k8s/build-into-containerd.sh (BUILDAH_FLAGS, CTR, CONTAINERD_ADDRESS);
//                       without DOCKER_HOST the containerd profile gets podman's API on a socket of this run
//
// Each step prints what it checked. Every object lives in namespaces this run creates (pubsub-ct-*)
// and deletes at the end, PVCs included; load goes through the ingest NodePort (not a port-forward,
// which dies with the pod it is bound to), bounded in count and time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendEvents, waitForStats, type SendResult } from '../../load/client.ts';
import { checkCounts } from '../../load/count-check.ts';
import { generateWorkload } from '../../load/workload.ts';
import type { Event } from '../../shared/event.ts';
import { pollUntil } from '../../load/poll.ts';
import { sleep } from '../../shared/retry.ts';
import type { StatsReply as Stats } from '../../shared/stats-reply.ts';
import { check, splitImage } from './check.ts';
import { Kube, tcpFrom } from './kube.ts';
import { backupDrill } from './steps/backup-drill.ts';
import { deadLettersStep } from './steps/dead-letters.ts';
import { imagesStep } from './steps/images.ts';
import { portForwardStep } from './steps/port-forward.ts';
import { skaffoldDevStep, skaffoldRunStep, startPodmanApi, type SkaffoldContext } from './steps/skaffold.ts';
import { templateApplyStep } from './steps/template-apply.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = path.join(ROOT, 'charts/pubsub-aggregator');
const REL = 'pubsub-aggregator';
let IMAGE = process.env.CLUSTER_IMAGE || 'pubsub-aggregator:dev';
/** The migrate image the chart derives from an app image: the repository + "-migrate", the same tag. */
const migrateImageOf = (image: string) => `${splitImage(image)[0]}-migrate:${splitImage(image)[1]}`;
let MIGRATE_IMAGE = process.env.CLUSTER_MIGRATE_IMAGE || migrateImageOf(IMAGE);
/** The Dockerfile's Node base: image sizes are printed above it. */
const BASE_IMAGE = /^ARG NODE_IMAGE=(\S+)/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? 'unknown';
const EXTRA_VALUES = (process.env.CLUSTER_VALUES ?? '')
  .split(',')
  .filter(Boolean)
  .map((f) => path.resolve(ROOT, f));
let NODE_PORT = Number(process.env.CLUSTER_NODE_PORT || 30080);
const NATS_SETS = (process.env.CLUSTER_NATS || '1,3').split(',').map(Number);
const KEEP = process.env.CLUSTER_KEEP === '1';
const IMAGE_2 = process.env.CLUSTER_IMAGE_2 || '';
const RECYCLE_PVS = process.env.CLUSTER_RECYCLE_PVS || '';
const LATER_STEPS = (process.env.CLUSTER_STEPS || 'gitops,dead-letters,backup,skaffold').split(',');
const RUN_ID = randomBytes(3).toString('hex');
const SEED = parseInt(RUN_ID, 16);

const logDir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-cluster-test-'));
const kube = new Kube(logDir, process.env.HELM || 'helm', process.env.KUBECTL || 'kubectl');
const created: string[] = [];
let current: string | undefined;

// ---- output ------------------------------------------------------------------------------------------
const started = Date.now();
const clock = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const say = (line: string) => console.log(`[cluster ${clock()}] ${line}`);

/**
 * One step of the suite, with its duration printed and a time budget: a step over it fails, naming
 * the budget, so a hang shows up as that step rather than as CI's own timeout. 15 minutes by default
 * (a helm --wait of 10 minutes, then checks), 20 for the steps that install several times.
 */
async function step(name: string, fn: () => Promise<string>, budgetSeconds = 900): Promise<void> {
  say(`▶ ${name} (budget ${budgetSeconds} s)`);
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const overBudget = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`over its budget of ${budgetSeconds} s`)), budgetSeconds * 1000);
  });
  try {
    const detail = await Promise.race([fn(), overBudget]);
    say(`✔ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${detail ? `\n      ${detail.split('\n').join('\n      ')}` : ''}`);
  } catch (err) {
    say(`✘ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${(err as Error).message}`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

// ---- the release -------------------------------------------------------------------------------------

/** An image reference as the kubelet asks the runtime for it (docker.io/library/ for a bare name). */
function fullImageName(image: string): string {
  const first = image.split('/')[0]!;
  if (first === image) return `docker.io/library/${image}`;
  return first.includes('.') || first.includes(':') || first === 'localhost' ? image : `docker.io/${image}`;
}

/**
 * Checks that a node holds the image (node status lists up to 50 images per node, so a miss is only
 * told, not failed on). Without CLUSTER_IMAGE, and no `:dev` image there, the image of the quick
 * start's release is taken: `skaffold run` deploys `pubsub-aggregator:<image ID>`, never `:dev`.
 */
async function chooseImage(nodes: any[]): Promise<string> {
  const present = new Set(nodes.flatMap((n) => (n.status.images ?? []).flatMap((i: any) => i.names ?? [])));
  if (present.has(fullImageName(IMAGE))) return `image ${IMAGE} is on the node(s)`;
  if (!process.env.CLUSTER_IMAGE) {
    const r = await kube.run(kube.kubectlBin, [
      '-n',
      'pubsub',
      'get',
      'deployment',
      `${REL}-ingest`,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    const running = r.code === 0 ? r.stdout.trim() : '';
    if (running && present.has(fullImageName(running))) {
      IMAGE = running;
      MIGRATE_IMAGE = process.env.CLUSTER_MIGRATE_IMAGE || (await releaseMigrateImage()) || migrateImageOf(IMAGE);
      const migrate = present.has(fullImageName(MIGRATE_IMAGE)) ? '' : `; WARNING: no node lists its migrate image ${MIGRATE_IMAGE}`;
      return `no node has pubsub-aggregator:dev: using ${IMAGE} and ${MIGRATE_IMAGE}, which the release pubsub/${REL} runs (set CLUSTER_IMAGE and CLUSTER_MIGRATE_IMAGE to choose)${migrate}`;
    }
  }
  return `WARNING: no node lists image ${IMAGE} (pods will not start unless it can be pulled; set CLUSTER_IMAGE)`;
}

/**
 * The migrate image the quick start's release was given, if it was given one: skaffold tags each image
 * with its own image ID, so the migrate image's tag is not the app image's.
 */
async function releaseMigrateImage(): Promise<string | undefined> {
  const r = await kube.run(kube.helmBin, ['get', 'values', REL, '-n', 'pubsub', '-o', 'json']);
  if (r.code !== 0) return undefined;
  const image = (JSON.parse(r.stdout || '{}') as { migration?: { image?: { repository?: string; tag?: string } } }).migration?.image;
  return image?.repository && image.tag ? `${image.repository}:${image.tag}` : undefined;
}

async function createNamespace(ns: string, restricted = true) {
  created.push(ns);
  // Kube#apply is `kubectl apply`, not Function#apply.
  // eslint-disable-next-line prefer-spread
  await kube.apply(undefined, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns,
      // As k8s/namespace.yaml: every pod of the chart must pass Pod Security "restricted".
      labels: restricted
        ? {
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
            'pubsub-aggregator/cluster-test': RUN_ID,
          }
        : { 'pubsub-aggregator/cluster-test': RUN_ID },
    },
  });
}

/** helm upgrade of the installed release: its values so far, plus `sets` (name=value), waiting for the rollout. */
function upgradeArgs(ns: string, sets: string[], timeout = '10m'): string[] {
  return ['upgrade', REL, CHART, '-n', ns, '--reuse-values', ...sets.flatMap((s) => ['--set', s]), '--wait', '--timeout', timeout];
}

/** helm install/upgrade with the kind values (or `base`), this run's image and node port, and CLUSTER_VALUES. */
function installArgs(ns: string, extra: string[] = [], base = 'k8s/values-kind.yaml'): string[] {
  return [
    'upgrade',
    '--install',
    REL,
    CHART,
    '-n',
    ns,
    '-f',
    path.join(ROOT, base),
    ...EXTRA_VALUES.flatMap((f) => ['-f', f]),
    '--set',
    `image.repository=${splitImage(IMAGE)[0]}`,
    '--set',
    `image.tag=${splitImage(IMAGE)[1]}`,
    '--set',
    `migration.image.repository=${splitImage(MIGRATE_IMAGE)[0]}`,
    '--set',
    `migration.image.tag=${splitImage(MIGRATE_IMAGE)[1]}`,
    '--set',
    `ingest.service.nodePort=${NODE_PORT}`,
    // Two of each, so that deleting one pod mid-load leaves another serving.
    '--set',
    'ingest.replicaCount=2',
    '--set',
    'consumer.replicaCount=2',
    ...extra,
    '--wait',
    '--timeout',
    '10m',
  ];
}

async function ingestUrl(): Promise<string> {
  if (process.env.CLUSTER_INGEST_URL) return process.env.CLUSTER_INGEST_URL;
  const context = (await kube.kubectl(['config', 'current-context'])).trim();
  // k8s/kind-config.yaml maps 30080 only; another node port is reached on the node's IP.
  if (context.startsWith('kind-') && NODE_PORT === 30080) return 'http://127.0.0.1:8080';
  const ip = (await kube.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}'])).trim();
  return `http://${ip}:${NODE_PORT}`;
}

// ---- counts ------------------------------------------------------------------------------------------
let url = '';
let readToken: string | undefined;

/**
 * GET /stats through the NodePort, asked again for up to 30 s when it fails: across a roll or a
 * reinstall a request can land on a kept-alive connection to a pod that is gone ("fetch failed"
 * once, with every pod ready; seen in CI after the reinstall).
 */
const stats = (): Promise<Stats> => waitForStats(url, () => true, 30_000, readToken);

/** Distinct events and re-sends in what was sent (the same for any prefix of a workload). */
function expected(events: readonly Event[]) {
  const unique = new Set(events.map((e) => `${e.topic}\u0000${e.event_id}`)).size;
  return { unique, duplicates: events.length - unique };
}

/** Waits until everything sent since `before` is stored, then checks the counts exactly. */
async function settledExact(
  before: Stats,
  events: readonly Event[],
  sent: Pick<SendResult, 'retriedEvents'>,
): Promise<{ after: Stats; message: string }> {
  const want = expected(events);
  const after = await waitForStats(
    url,
    (s) => s.unique_processed - before.unique_processed >= want.unique && s.queue_depth === 0,
    180_000,
    readToken,
  ).catch(async (err: Error) => {
    // The poll's last answer may be a failed request; what the counts had reached says more.
    const seen = await stats().then(
      (s) => `unique +${s.unique_processed - before.unique_processed} of ${want.unique}, queue_depth ${s.queue_depth}`,
      (e: Error) => `/stats unreadable too: ${e.message}`,
    );
    throw new Error(`${err.message}; then: ${seen}`, { cause: err });
  });
  const observed = {
    unique: after.unique_processed - before.unique_processed,
    duplicates: after.duplicate_dropped - before.duplicate_dropped,
  };
  const verdict = checkCounts(observed, want, sent.retriedEvents);
  check(verdict.exact, verdict.message);
  const rows = after.database_rows - before.database_rows;
  check(rows === want.unique, `database_rows grew by ${rows}, expected ${want.unique}`);
  const received = after.received - before.received;
  check(
    received === observed.unique + observed.duplicates,
    `received grew by ${received}, but ${observed.unique} stored + ${observed.duplicates} dropped`,
  );
  return { after, message: `${verdict.message}; database_rows +${rows}, received +${received}` };
}

const sendSummary = (events: number, r: SendResult, ms: number) =>
  `${events} events in ${(ms / 1000).toFixed(1)} s through ${url}: ${r.requests} requests, ${r.retries} retries, ${r.failed} failed`;

/** Sends `events` in chunks until `until` settles (at least one chunk); returns what was sent. */
async function sendWhile(events: readonly Event[], until: Promise<unknown>, opts: { batchSize: number; concurrency: number }) {
  let done = false;
  void until.finally(() => (done = true)).catch(() => {});
  const total: SendResult = { requests: 0, retries: 0, failed: 0, accepted: 0, brokerDuplicates: 0, retriedEvents: 0 };
  let sent = 0;
  const chunk = opts.batchSize * opts.concurrency * 5;
  do {
    const part = events.slice(sent, sent + chunk);
    if (part.length === 0) break;
    const r = await sendEvents(part, { baseUrl: url, ...opts, maxAttempts: 30 });
    for (const k of Object.keys(total) as Array<keyof SendResult>) total[k] += r[k];
    sent += part.length;
  } while (!done);
  return { sent: events.slice(0, sent), result: total };
}

// ---- steps -------------------------------------------------------------------------------------------
async function installStep(ns: string, label: string, extra: string[], opts: { base?: string; before?: () => Promise<void> } = {}) {
  await step(`helm install (${label}) in namespace ${ns}`, async () => {
    await createNamespace(ns);
    await opts.before?.();
    const t0 = Date.now();
    await kube.helm(installArgs(ns, extra, opts.base), { timeoutMs: 12 * 60_000 });
    const installed = (Date.now() - t0) / 1000;
    await kube.rolledOut(ns);
    const pods = await kube.pods(ns);
    const running = pods.filter((p) => p.phase === 'Running');
    const restarts = pods.reduce((n, p) => n + p.restarts, 0);
    const byComponent = Object.entries(
      running.reduce<Record<string, number>>((m, p) => ({ ...m, [p.component]: (m[p.component] ?? 0) + 1 }), {}),
    )
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    check(
      restarts === 0,
      `pods restarted during the install: ${pods
        .filter((p) => p.restarts)
        .map((p) => `${p.name} ${p.restarts}`)
        .join(', ')}`,
    );
    url = await ingestUrl();
    await kube.until(
      `ingest ready behind ${url}`,
      async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok,
      120_000,
    );
    return `helm --wait returned after ${installed.toFixed(1)} s; running: ${byComponent}; 0 restarts; Pod Security "restricted" enforced on the namespace; ingest answers at ${url}`;
  });
}

async function imagesAndStartsStep(ns: string) {
  await step('NATS versions, image sizes, app start times', () =>
    imagesStep({ kube, ns, release: REL, appImage: IMAGE, migrateImage: MIGRATE_IMAGE, baseImage: BASE_IMAGE }),
  );
}

async function helmTestStep(ns: string, what = 'helm test') {
  await step(what, async () => {
    const out = await kube.helm(['test', REL, '-n', ns, '--logs', '--timeout', '5m']);
    const line = out.split('\n').find((l) => l.includes('read back')) ?? out.trim().split('\n').at(-1);
    return `${line?.trim()}`;
  });
}

async function workloadStep(label: string, events = 20_000, seed = SEED, token?: string) {
  await step(`${label}: ${events} events, 30% duplicates, batches of 100 through the NodePort`, async () => {
    const w = generateWorkload({ events, duplicateRate: 0.3, seed });
    const before = await stats();
    const t0 = Date.now();
    const r = await sendEvents(w.events, { baseUrl: url, batchSize: 100, concurrency: 8, maxAttempts: 30, token });
    const ms = Date.now() - t0;
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    const { message } = await settledExact(before, w.events, r);
    return `${sendSummary(events, r, ms)}\n${message}`;
  });
}

async function deletePodsStep(ns: string) {
  await step('delete a consumer pod and an ingest pod (forced) in the middle of 10,000 events', async () => {
    const w = generateWorkload({ events: 10_000, duplicateRate: 0.3, seed: SEED + 1 });
    const before = await stats();
    const t0 = Date.now();
    const sending = sendEvents(w.events, { baseUrl: url, batchSize: 20, concurrency: 4, maxAttempts: 30 });
    // Mid-load: some events accepted, most still to come.
    await kube.until('the load to be under way', async () => (await stats()).received - before.received >= 1_500, 120_000, 200);
    const pods = await kube.pods(ns);
    const victims = ['consumer', 'ingest'].map((c) => pods.find((p) => p.component === c && p.ready)!.name);
    const at = (await stats()).received - before.received;
    await kube.kubectl(['-n', ns, 'delete', 'pod', ...victims, '--grace-period=0', '--force']);
    const r = await sending;
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    await kube.rolledOut(ns);
    const { message } = await settledExact(before, w.events, r);
    return `deleted ${victims.join(' and ')} after ${at} events were accepted\n${sendSummary(w.events.length, r, Date.now() - t0)}\n${message}`;
  });
}

/**
 * The bounded buffer on a real cluster: a 16 MiB cap (the chart's explicit value), the consumers
 * scaled to 0, events of 2 KiB until ingest pushes back; then the consumers back, and every event
 * answered 202 is stored once. The cap is set back afterwards.
 */
async function bufferStep(ns: string) {
  await step(
    'the buffer at its cap: consumers scaled to 0, ingest answers 503 "buffer full" and stays ready; scaled back, it drains, exact',
    async () => {
      const cap = 16 * 1024 * 1024;
      const consumer = `deploy/${REL}-consumer`;
      await kube.helm(upgradeArgs(ns, [`config.stream.maxBytes=${cap}`]), { timeoutMs: 12 * 60_000 });
      await kube.rolledOut(ns);
      const before = await stats();
      await kube.kubectl(['-n', ns, 'scale', consumer, '--replicas=0']);
      await kube.until('no consumer pod left', async () => (await kube.pods(ns)).every((p) => p.component !== 'consumer'), 120_000);
      // ~22 MiB of distinct events for a 16 MiB cap: the senders themselves meet the 503s.
      const w = generateWorkload({ events: 14_000, duplicateRate: 0.3, seed: SEED + 5, padBytes: 2_000 });
      const t0 = Date.now();
      const sending = sendEvents(w.events, { baseUrl: url, batchSize: 100, concurrency: 4, maxAttempts: 1_000 });
      // New events until one is refused: a re-sent one would get its duplicate ack (dedup comes first).
      const probes: Event[] = [];
      const probe = (): Event => ({
        topic: 'orders.created',
        event_id: `buffer-probe-${RUN_ID}-${probes.length}`,
        timestamp: new Date().toISOString(),
      });
      const refused = await pollUntil(
        async () => {
          const event = probe();
          const res = await fetch(`${url}/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(event),
            signal: AbortSignal.timeout(10_000),
          });
          if (res.status === 202) probes.push(event);
          return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
        },
        (r) => r.status === 503,
        { what: 'a 503 from the full buffer', timeoutMs: 180_000, intervalMs: 250 },
      );
      check(/buffer is full/.test(refused.body) && refused.retryAfter === '5', `the 503 was ${JSON.stringify(refused)}`);
      const full = await stats();
      check((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok, 'ingest not ready while the buffer is full');
      await kube.kubectl(['-n', ns, 'scale', consumer, '--replicas=2']);
      const r = await sending;
      check(r.failed === 0, `${r.failed} requests failed after every retry`);
      check(r.retries > 0, 'the senders were never told to retry: the buffer did not fill');
      const last = probe();
      probes.push(last);
      check((await sendEvents([last], { baseUrl: url, batchSize: 1, concurrency: 1, maxAttempts: 30 })).failed === 0, 'the refused probe');
      const { message } = await settledExact(before, [...w.events, ...probes], r);
      await kube.helm(upgradeArgs(ns, ['config.stream.maxBytes=null']), { timeoutMs: 12 * 60_000 });
      await kube.rolledOut(ns);
      return (
        `503 "buffer full" after ${probes.length - 1} probes, with ${full.queue.stream_messages} events in the buffer and ingest ready; ` +
        `${r.retries} retries\n${sendSummary(w.events.length, r, Date.now() - t0)}\n${message}`
      );
    },
  );
}

/**
 * Retention on a real cluster, set with the chart's value: rows older than 5 s are purged while
 * events keep coming, the counts stay cumulative and exact, and database_rows says what the table
 * holds. Set back to 0 (keep forever) afterwards.
 */
async function retentionStep(ns: string) {
  await step('retention enabled with consumer.retentionMs: stored rows purged under load, counts exact and cumulative', async () => {
    // Read before the upgrade: once it rolls out, the rows already stored are gone within seconds.
    const before = await stats();
    check(before.database_rows > 0, 'no stored rows to purge');
    await kube.helm(upgradeArgs(ns, ['consumer.retentionMs=5000', 'consumer.purgeIntervalMs=1000']), { timeoutMs: 12 * 60_000 });
    await kube.rolledOut(ns);
    const w = generateWorkload({ events: 10_000, duplicateRate: 0.3, seed: SEED + 6 });
    const t0 = Date.now();
    const r = await sendEvents(w.events, { baseUrl: url, batchSize: 100, concurrency: 4, maxAttempts: 30 });
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    const purged = await kube.until(
      'every row past the horizon purged',
      async () => {
        const s = await stats();
        return s.unique_processed - before.unique_processed >= w.unique && s.queue_depth === 0 && s.database_rows === 0 ? s : undefined;
      },
      180_000,
      2_000,
    );
    const counts = checkCounts(
      { unique: purged.unique_processed - before.unique_processed, duplicates: purged.duplicate_dropped - before.duplicate_dropped },
      { unique: w.unique, duplicates: w.duplicates },
      r.retriedEvents,
    );
    check(counts.exact, counts.message);
    const received = purged.received - before.received;
    const counted = purged.unique_processed - before.unique_processed + purged.duplicate_dropped - before.duplicate_dropped;
    check(received === counted, `received grew by ${received}, stored + dropped by ${counted}`);
    await kube.helm(upgradeArgs(ns, ['consumer.retentionMs=0', 'consumer.purgeIntervalMs=60000']), { timeoutMs: 12 * 60_000 });
    await kube.rolledOut(ns);
    return (
      `${sendSummary(w.events.length, r, Date.now() - t0)}\n${counts.message}; ` +
      `database_rows ${before.database_rows} -> 0 (every row older than 5 s purged), unique_processed ${purged.unique_processed} (cumulative)`
    );
  });
}

async function postgresRestartStep(ns: string) {
  await step('delete the PostgreSQL pod under steady traffic: ingest stays ready, rows stay on the PVC', async () => {
    const before = await stats();
    const pgPod = `${REL}-postgresql-0`;
    const uid = (await kube.json(['-n', ns, 'get', 'pod', pgPod])).metadata.uid;
    let stop = false;
    const publishes: number[] = [];
    const reads: number[] = [];
    const events: Event[] = [];
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const event = { topic: 'cluster.pg-restart', event_id: `${RUN_ID}-${i}`, timestamp: new Date().toISOString() };
        const status = await fetch(`${url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(10_000),
        }).then(
          (r) => r.status,
          () => 0,
        );
        publishes.push(status);
        if (status === 202) events.push(event);
        if (i % 5 === 0)
          reads.push(
            await fetch(`${url}/stats`, { signal: AbortSignal.timeout(10_000) }).then(
              (r) => r.status,
              () => 0,
            ),
          );
        await sleep(100);
      }
    })();
    await sleep(1_000);
    const t0 = Date.now();
    await kube.kubectl(['-n', ns, 'delete', 'pod', pgPod]);
    await kube.until(
      'PostgreSQL back and ready',
      async () => {
        const p = await kube.json(['-n', ns, 'get', 'pod', pgPod]);
        return p.metadata.uid !== uid && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
      },
      300_000,
    );
    const outage = (Date.now() - t0) / 1000;
    await sleep(2_000);
    stop = true;
    await traffic;
    const refused = publishes.filter((s) => s !== 202);
    check(
      refused.length === 0,
      `${refused.length} of ${publishes.length} publishes were not accepted (statuses ${[...new Set(refused)].join(', ')}): ingest left its Service while PostgreSQL restarted`,
    );
    const { after, message } = await settledExact(before, events, { retriedEvents: 0 });
    check(after.database_rows >= before.database_rows, 'rows lost');
    const count = (list: number[], s: number) => list.filter((x) => x === s).length;
    return (
      `PostgreSQL pod deleted; a new one was ready after ${outage.toFixed(1)} s\n` +
      `${publishes.length}/${publishes.length} single-event publishes answered 202 meanwhile; /stats answered 200 x${count(reads, 200)}, 503 x${count(reads, 503)}, other x${reads.length - count(reads, 200) - count(reads, 503)}\n` +
      `rows before ${before.database_rows}, after ${after.database_rows} (kept on the PVC); ${message}`
    );
  });
}

async function upgradeStep(ns: string) {
  await step('helm upgrade with a changed value (config.shutdownTimeoutMs) under load: rolling, nothing lost', async () => {
    const w = generateWorkload({ events: 20_000, duplicateRate: 0.3, seed: SEED + 2 });
    const before = await stats();
    const revision = (await kube.json(['-n', ns, 'get', 'deployment', `${REL}-ingest`])).metadata.generation;
    const t0 = Date.now();
    const upgrade = kube.helm(upgradeArgs(ns, ['config.shutdownTimeoutMs=12000']), { timeoutMs: 12 * 60_000 });
    const { sent, result } = await sendWhile(w.events, upgrade, { batchSize: 10, concurrency: 4 });
    await upgrade;
    const took = (Date.now() - t0) / 1000;
    check(result.failed === 0, `${result.failed} requests failed after every retry`);
    await kube.rolledOut(ns);
    const generation = (await kube.json(['-n', ns, 'get', 'deployment', `${REL}-ingest`])).metadata.generation;
    check(generation > revision, 'the ingest Deployment did not roll');
    const { message } = await settledExact(before, sent, result);
    return `upgrade (new migration Job, rolling ingest and consumer) took ${took.toFixed(1)} s; sent while it ran: ${sendSummary(sent.length, result, took * 1000)}\n${message}`;
  });
}

async function networkPolicyStep(ns: string) {
  await step('NetworkPolicies enforced: outsiders cannot reach PostgreSQL or NATS; ingest and consumer can', async () => {
    const other = `${ns}-probe`;
    await createNamespace(other, false);
    const probe = (namespace: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'netprobe', namespace, labels: { app: 'netprobe' } },
      spec: {
        automountServiceAccountToken: false,
        // node as PID 1 ignores SIGTERM: without this the deletion waits 30 s.
        terminationGracePeriodSeconds: 0,
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'netprobe',
            image: IMAGE,
            imagePullPolicy: 'IfNotPresent',
            command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
          },
        ],
      },
    });
    for (const n of [ns, other]) await kube.apply(n, probe(n));
    for (const n of [ns, other]) await kube.kubectl(['-n', n, 'wait', '--for=condition=Ready', 'pod/netprobe', '--timeout=120s']);
    const svc = (name: string) => `${REL}-${name}.${ns}.svc.cluster.local`;
    const rows: string[] = [];
    const expectFrom = async (
      label: string,
      target: string,
      container: string | undefined,
      namespace: string,
      host: string,
      port: number,
      want: 'open' | 'blocked',
    ) => {
      const got = await tcpFrom(kube, namespace, target, container, host, port);
      const blocked = got !== 'open';
      rows.push(`${label} -> ${host.split('.')[0]}:${port}: ${got}${(want === 'open') === !blocked ? '' : '   <-- WRONG'}`);
      return (want === 'open') === !blocked;
    };
    const results = [
      await expectFrom(`pod in ${ns} without release labels`, 'netprobe', undefined, ns, svc('postgresql'), 5432, 'blocked'),
      await expectFrom(`pod in ${ns} without release labels`, 'netprobe', undefined, ns, svc('nats'), 4222, 'blocked'),
      await expectFrom(`pod in ${other}`, 'netprobe', undefined, other, svc('postgresql'), 5432, 'blocked'),
      await expectFrom(`pod in ${other}`, 'netprobe', undefined, other, svc('nats'), 4222, 'blocked'),
      await expectFrom(`pod in ${other}`, 'netprobe', undefined, other, svc('ingest'), 8080, 'open'),
      await expectFrom('ingest', `deploy/${REL}-ingest`, 'ingest', ns, svc('postgresql'), 5432, 'open'),
      await expectFrom('ingest', `deploy/${REL}-ingest`, 'ingest', ns, svc('nats'), 4222, 'open'),
      await expectFrom('consumer', `deploy/${REL}-consumer`, 'consumer', ns, svc('postgresql'), 5432, 'open'),
      await expectFrom('consumer', `deploy/${REL}-consumer`, 'consumer', ns, svc('nats'), 4222, 'open'),
    ];
    await kube.kubectl(['-n', ns, 'delete', 'pod', 'netprobe', '--wait=false']);
    check(results.every(Boolean), `reachability differs from the policies:\n${rows.join('\n')}`);
    return rows.join('\n');
  });
}

async function authStep(ns: string) {
  await step('auth with read tokens only (publish open), then a token rotation: pods roll, the old token stops working', async () => {
    const upgrade = (tokens: string) =>
      kube.helm(upgradeArgs(ns, ['auth.enabled=true', `auth.readTokens={${tokens}}`]), { timeoutMs: 12 * 60_000 });
    const statsAs = (token?: string) =>
      fetch(`${url}/stats`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) }).then(
        (r) => r.status,
      );
    await upgrade(`read-${RUN_ID}-1`);
    await kube.rolledOut(ns);
    // The NodePort balances over pods: ask a few times so every ingest pod answers at least once.
    const statuses = async (token?: string) => [...new Set(await Promise.all(Array.from({ length: 8 }, () => statsAs(token))))].join(',');
    const anonymous = await statuses();
    const withToken = await statuses(`read-${RUN_ID}-1`);
    const publish = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'cluster.auth', event_id: `${RUN_ID}-auth`, timestamp: new Date().toISOString() }),
      signal: AbortSignal.timeout(10_000),
    });
    check(anonymous === '401', `/stats without a token answered ${anonymous}`);
    check(withToken === '200', `/stats with the read token answered ${withToken}`);
    check(publish.status === 202, `/publish without a token answered ${publish.status} (publishing must stay open)`);
    const helmTest = await kube.helm(['test', REL, '-n', ns, '--logs', '--timeout', '5m']);
    check(/read back/.test(helmTest), 'helm test did not read its event back');
    await upgrade(`read-${RUN_ID}-2`);
    await kube.rolledOut(ns);
    const oldToken = await statuses(`read-${RUN_ID}-1`);
    const newToken = await statuses(`read-${RUN_ID}-2`);
    check(oldToken === '401', `the revoked token still answered ${oldToken}`);
    check(newToken === '200', `the new token answered ${newToken}`);
    readToken = `read-${RUN_ID}-2`;
    return (
      `read-only auth: /stats 401 without a token, 200 with it; /publish without a token 202; helm test passes with the token\n` +
      `after rotating the read token with helm upgrade: old token ${oldToken}, new token ${newToken}`
    );
  });
}

async function replicasRefusedStep(ns: string) {
  await step('changing nats.replicas on the live release is refused with what to do, and nothing changes', async () => {
    const history = async () => JSON.parse(await kube.helm(['history', REL, '-n', ns, '-o', 'json'])).length as number;
    const revisions = await history();
    const r = await kube.run(kube.helmBin, upgradeArgs(ns, ['nats.replicas=3'], '2m'));
    check(r.code !== 0, 'the upgrade to 3 NATS servers was accepted');
    const message = /nats\.replicas cannot change[^\n]*/.exec(r.stderr)?.[0];
    check(message, `refused without the explanation: ${r.stderr.trim()}`);
    check((await history()) === revisions, 'a release revision was recorded');
    const replicas = (await kube.json(['-n', ns, 'get', 'statefulset', `${REL}-nats`])).spec.replicas;
    check(replicas === 1, `the NATS StatefulSet has ${replicas} replicas`);
    return `helm upgrade --set nats.replicas=3 failed: ${message.slice(0, 160)}…\nrevisions unchanged (${revisions}), NATS still 1 server`;
  });
}

async function uninstallStep(ns: string) {
  await step('helm uninstall keeps the PVCs and generated Secrets; a reinstall finds every row', async () => {
    const before = await stats();
    await kube.helm(['uninstall', REL, '-n', ns, '--wait', '--timeout', '5m']);
    const pvcs = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'pvc'])).items.map((p) => p.metadata.name).sort();
    const secrets = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'secrets'])).items.map((s) => s.metadata.name).sort();
    check(pvcs.includes(`data-${REL}-nats-0`) && pvcs.includes(`data-${REL}-postgresql-0`), `PVCs after uninstall: ${pvcs.join(', ')}`);
    for (const s of [`${REL}-postgresql`, `${REL}-nats-users`]) check(secrets.includes(s), `Secret ${s} was deleted by the uninstall`);
    readToken = undefined;
    await kube.helm(installArgs(ns), { timeoutMs: 12 * 60_000 });
    await kube.rolledOut(ns);
    await kube.until('ingest ready again', async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok, 120_000);
    const after = await stats();
    check(
      after.database_rows === before.database_rows,
      `rows before uninstall ${before.database_rows}, after reinstall ${after.database_rows}`,
    );
    check(
      after.unique_processed === before.unique_processed && after.duplicate_dropped === before.duplicate_dropped,
      'counters changed across the reinstall',
    );
    return (
      `kept: PVCs ${pvcs.join(', ')}; Secrets ${REL}-postgresql, ${REL}-nats-users\n` +
      `reinstalled with the kept passwords: ${after.database_rows} rows, ${after.unique_processed} unique, ${after.duplicate_dropped} duplicates, as before`
    );
  });
}

async function natsReplicasProcedureStep(ns: string) {
  await step('docs/kubernetes.md "Changing nats.replicas" 1 -> 3, step by step: every row kept, exact afterwards', async () => {
    // 1. Publishers stopped (this suite sends nothing now); everything accepted is stored.
    const before = await waitForStats(url, (s) => s.queue_depth === 0, 120_000, readToken);
    const t0 = Date.now();
    // 2. The NATS StatefulSet and its volumes go.
    await kube.kubectl(['-n', ns, 'delete', 'statefulset', `${REL}-nats`, '--wait=true']);
    await kube.kubectl([
      '-n',
      ns,
      'delete',
      'pvc',
      '-l',
      `app.kubernetes.io/instance=${REL},app.kubernetes.io/component=nats`,
      '--wait=true',
    ]);
    // 3. The upgrade, now that no StatefulSet says otherwise.
    await kube.helm(upgradeArgs(ns, ['nats.replicas=3']), { timeoutMs: 12 * 60_000 });
    await kube.rolledOut(ns);
    await kube.until(
      'ingest ready on the new NATS (the consumer recreated the streams)',
      async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok,
      300_000,
      2_000,
    );
    const took = (Date.now() - t0) / 1000;
    const replicas = (await kube.json(['-n', ns, 'get', 'statefulset', `${REL}-nats`])).spec.replicas;
    check(replicas === 3, `NATS runs ${replicas} servers`);
    const mid = await stats();
    check(
      mid.database_rows === before.database_rows && mid.unique_processed === before.unique_processed,
      `rows ${before.database_rows} -> ${mid.database_rows}, unique ${before.unique_processed} -> ${mid.unique_processed}`,
    );
    // 4. Publishers back: new events land after the stored sequences, counts exact from here.
    const w = generateWorkload({ events: 5_000, duplicateRate: 0.3, seed: SEED + 4 });
    const r = await sendEvents(w.events, { baseUrl: url, batchSize: 100, concurrency: 4, maxAttempts: 30 });
    check(r.failed === 0, `${r.failed} requests failed after every retry`);
    const { message } = await settledExact(mid, w.events, r);
    return (
      `3 NATS servers ${took.toFixed(1)} s after the StatefulSet was deleted; rows ${mid.database_rows} and unique counts kept; ` +
      `broker-duplicate count ${before.duplicates_by_layer.broker} -> ${mid.duplicates_by_layer.broker} (kept in NATS: documented loss)\n${sendSummary(w.events.length, r, 0).replace(' in 0.0 s', '')}\n${message}`
    );
  });
}

// ---- k8s/values-production.yaml -----------------------------------------------------------------------
/**
 * What the one-node lab cannot give the production values, and nothing else: a spread over three
 * nodes (DoNotSchedule with minDomains 3 would leave two NATS servers Pending), the volume sizes
 * (its static PVs hold 10Gi), the CPU requests (they add up to more than its 2 CPUs), and a
 * NodePort for the load (the production Service is ClusterIP).
 */
const PRODUCTION_LAB_OVERRIDES = [
  'nats.spread.whenUnsatisfiable=ScheduleAnyway',
  'nats.spread.minDomains=null',
  'nats.jetstream.fileStore.maxSize=8Gi',
  'nats.jetstream.fileStore.pvc.size=10Gi',
  'postgresql.persistence.size=10Gi',
  'postgresql.parameters.shared_buffers=128MB',
  ...['ingest', 'consumer', 'nats', 'postgresql'].map((c) => `${c}.resources.requests.cpu=100m`),
  'ingest.service.type=NodePort',
].flatMap((s) => ['--set', s]);

const PUBLISH_TOKEN = `publish-${RUN_ID}`;
const READ_TOKEN = `read-${RUN_ID}`;

/** The Secret k8s/values-production.yaml names (auth.existingSecret), as its header creates it. */
async function createTokenSecret(ns: string) {
  await kube.kubectl([
    '-n',
    ns,
    'create',
    'secret',
    'generic',
    'pubsub-tokens',
    `--from-literal=publish-tokens=${PUBLISH_TOKEN}`,
    `--from-literal=read-tokens=${READ_TOKEN},${PUBLISH_TOKEN}`,
    `--from-literal=load-test-token=${PUBLISH_TOKEN}`,
  ]);
}

/** GET `path` on NATS's monitoring port of `pod`, through a port-forward (which NetworkPolicies do not see). */
async function natsMonitor(ns: string, pod: string, route: string): Promise<any> {
  const port = 18_222 + Math.floor(Math.random() * 1_000);
  const pf = spawn(kube.kubectlBin, ['-n', ns, 'port-forward', `pod/${pod}`, `${port}:8222`], { stdio: 'ignore' });
  try {
    return await kube.until(
      `${pod} ${route} through a port-forward`,
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
        return r?.ok ? await r.json() : undefined;
      },
      30_000,
      500,
    );
  } finally {
    pf.kill();
  }
}

async function productionChecksStep(ns: string) {
  await step(
    'the production values as installed: NATS routes authenticated, /metrics and /stats closed to the public Service, PDBs',
    async () => {
      const servers = [0, 1, 2].map((i) => `${REL}-nats-${i}`);
      const routes: string[] = [];
      for (const pod of servers) {
        const routez = await natsMonitor(ns, pod, '/routez');
        const peers = new Set((routez.routes ?? []).map((r: any) => r.remote_name ?? r.remote_id));
        check(peers.size === 2, `${pod} has routes to ${peers.size} of the 2 other servers`);
        routes.push(`${pod}: ${peers.size} peers`);
      }
      const metrics = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
      check(metrics.status === 404 || metrics.status === 401, `/metrics through the ingest Service answered ${metrics.status}`);
      const anonymous = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(5_000) });
      check(anonymous.status === 401, `/stats without a token answered ${anonymous.status}`);
      const pdbs = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'pdb'])).items;
      const policies = pdbs.map((p) => `${p.metadata.name.replace(`${REL}-`, '')} ${p.spec.unhealthyPodEvictionPolicy}`);
      check(pdbs.length === 3 && pdbs.every((p) => p.spec.unhealthyPodEvictionPolicy === 'AlwaysAllow'), `PDBs: ${policies.join(', ')}`);
      readToken = READ_TOKEN;
      return (
        `overridden for one node: ${PRODUCTION_LAB_OVERRIDES.filter((a) => a !== '--set').join(' ')}\n` +
        `routes with credentials: ${routes.join(', ')}\n` +
        `through the ingest Service: /metrics ${metrics.status}, /stats without a token ${anonymous.status}; PDBs: ${policies.join(', ')}`
      );
    },
  );
}

async function cleanup() {
  for (const ns of created.reverse()) {
    await kube.run(kube.kubectlBin, ['delete', 'namespace', ns, '--wait=true', '--timeout=5m', '--ignore-not-found'], {
      timeoutMs: 6 * 60_000,
    });
  }
  created.length = 0;
  if (RECYCLE_PVS) await kube.run('sh', ['-c', RECYCLE_PVS], { timeoutMs: 5 * 60_000 });
}

// ---- main --------------------------------------------------------------------------------------------
async function main() {
  say(
    `run ${RUN_ID}: images ${IMAGE} and ${MIGRATE_IMAGE}, value sets ${NATS_SETS.map((n) => `${n}-node NATS`).join(' + ')}, logs in ${logDir}`,
  );
  await step('cluster reachable, the image on the nodes, a free NodePort', async () => {
    const version = JSON.parse(await kube.kubectl(['version', '-o', 'json'])).serverVersion?.gitVersion;
    const nodeList = (await kube.json<{ items: any[] }>(['get', 'nodes'])).items;
    const nodes = nodeList.map((n) => n.metadata.name);
    const image = await chooseImage(nodeList);
    const services = await kube.json<{ items: any[] }>(['get', 'services', '-A']);
    const owner = new Map<number, string>(
      services.items.flatMap((s) => (s.spec.ports ?? []).map((p: any) => [p.nodePort, `${s.metadata.namespace}/${s.metadata.name}`])),
    );
    let port = `NodePort ${NODE_PORT}`;
    if (owner.has(NODE_PORT)) {
      // The README's quick start leaves its release on 30080: the suite runs beside it.
      check(!process.env.CLUSTER_NODE_PORT, `NodePort ${NODE_PORT} (CLUSTER_NODE_PORT) is used by ${owner.get(NODE_PORT)}`);
      const free = Array.from({ length: 200 }, (_, i) => 30_081 + i).find((p) => !owner.has(p));
      check(free, 'no free NodePort in 30081-30280: set CLUSTER_NODE_PORT');
      port = `NodePort ${NODE_PORT} is used by ${owner.get(NODE_PORT)}: using ${free} (set CLUSTER_NODE_PORT to choose)`;
      NODE_PORT = free;
    }
    return `Kubernetes ${version}, nodes: ${nodes.join(', ')}; helm ${(await kube.helm(['version', '--short'])).trim()}; ${image}; ${port}, ingest at ${await ingestUrl()}`;
  });
  if (NATS_SETS.includes(1)) {
    const ns = (current = `pubsub-ct-${RUN_ID}`);
    await installStep(ns, 'kind values, 1 NATS server', []);
    await imagesAndStartsStep(ns);
    await helmTestStep(ns);
    await workloadStep('the standard workload');
    await bufferStep(ns);
    await deletePodsStep(ns);
    await postgresRestartStep(ns);
    await upgradeStep(ns);
    await networkPolicyStep(ns);
    if (LATER_STEPS.includes('dead-letters')) {
      await step(
        'dead letters: refused by PostgreSQL, listed from a consumer pod, replayed after the fix, exact',
        () => deadLettersStep({ kube, ns, release: REL, url, readToken, upgradeArgs: (n, sets) => upgradeArgs(n, sets), runId: RUN_ID }),
        1_200,
      );
    }
    await authStep(ns);
    await replicasRefusedStep(ns);
    await uninstallStep(ns);
    await natsReplicasProcedureStep(ns);
    await retentionStep(ns);
    await step(`delete namespace ${ns} (release, PVCs)`, async () => (await cleanup(), ''));
  }
  if (NATS_SETS.includes(3)) {
    const ns = (current = `pubsub-ct-${RUN_ID}-3`);
    await installStep(ns, 'k8s/values-production.yaml: 3 NATS servers, auth, retention', PRODUCTION_LAB_OVERRIDES, {
      base: 'k8s/values-production.yaml',
      before: () => createTokenSecret(ns),
    });
    await imagesAndStartsStep(ns);
    await productionChecksStep(ns);
    await helmTestStep(ns);
    await workloadStep('the standard workload on 3 NATS servers (streams replicated 3 times)', 20_000, SEED + 3, PUBLISH_TOKEN);
    await step(`delete namespace ${ns} (release, PVCs)`, async () => (await cleanup(), ''));
  }
  if (LATER_STEPS.includes('gitops')) {
    if (!IMAGE_2) say('skipped: helm template | kubectl apply with two image tags (CLUSTER_IMAGE_2 unset)');
    else {
      const ns = (current = `pubsub-ct-${RUN_ID}-gitops`);
      await step(
        'helm template --set gitOps=true | kubectl apply, twice, with two image tags',
        async () =>
          templateApplyStep({
            kube,
            ns,
            createNamespace: (n) => createNamespace(n),
            chart: CHART,
            release: REL,
            valuesFiles: [path.join(ROOT, 'k8s/values-kind.yaml'), ...EXTRA_VALUES],
            imageA: IMAGE,
            imageB: IMAGE_2,
            nodePort: NODE_PORT,
            ingestUrl: await ingestUrl(),
            seed: SEED + 7,
            say,
          }),
        1_200,
      );
      await step(`delete namespace ${ns}`, async () => (await cleanup(), ''));
    }
  }
  if (LATER_STEPS.includes('backup')) {
    const ns = (current = `pubsub-ct-${RUN_ID}-backup`);
    await step(
      'backup and restore drill: 20k events, back up, lose every volume, restore, re-send: exact',
      async () => {
        await createNamespace(ns);
        return backupDrill({
          kube,
          ns,
          release: REL,
          installArgs: (n, extra) => installArgs(n, extra),
          ingestUrl,
          seed: SEED + 8,
          log: say,
          recyclePvs: RECYCLE_PVS,
        });
      },
      1_200,
    );
    await step(`delete namespace ${ns}`, async () => (await cleanup(), ''));
  }
  if (LATER_STEPS.includes('skaffold')) await skaffoldSteps();
}

/** The users' own paths: skaffold run, the port-forward workload on what it deployed, skaffold dev. */
async function skaffoldSteps() {
  const skaffoldBin = process.env.SKAFFOLD || 'skaffold';
  if ((await kube.run(skaffoldBin, ['version'])).code !== 0) {
    say(`skipped: skaffold run/dev and the port-forward workload (no ${skaffoldBin}: bash scripts/check-chart.sh builds the pinned one)`);
    return;
  }
  const context = (await kube.kubectl(['config', 'current-context'])).trim();
  const profiles = process.env.CLUSTER_SKAFFOLD_PROFILES || (context.startsWith('kind-') ? 'kind' : 'containerd');
  const ns = (current = `pubsub-ct-${RUN_ID}-skaffold`);
  const workDir = path.join(logDir, 'skaffold');
  mkdirSync(workDir);
  await createNamespace(ns);
  const env: Record<string, string> = {};
  const ctx: SkaffoldContext = { kube, ns, release: REL, root: ROOT, profiles, workDir, skaffoldBin, env, runId: RUN_ID, say };
  let podman: { stop: () => void } | undefined;
  try {
    await step(
      `skaffold run -p ${profiles}: built, deployed, ready; helm test`,
      async () => {
        if (profiles.split(',').includes('containerd') && !process.env.DOCKER_HOST) {
          const api = await startPodmanApi(workDir);
          podman = api;
          env.DOCKER_HOST = api.dockerHost;
        }
        return skaffoldRunStep(ctx);
      },
      1_500,
    );
    await step(
      `kubectl port-forward svc/${REL}-ingest: 20000 events exact, then a rolling restart of ingest with the forward re-established`,
      () => portForwardStep({ kube, ns, release: REL, logFile: path.join(workDir, 'port-forward.log'), seed: SEED + 9 }),
      900,
    );
    await step(
      'skaffold dev: a source change rebuilt and rolled out, answered by the new code; Ctrl-C removes the release',
      () => skaffoldDevStep(ctx),
      1_500,
    );
  } finally {
    podman?.stop();
  }
  await step(`delete namespace ${ns}`, async () => (await cleanup(), ''));
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}: deleting namespaces ${created.join(', ') || '(none)'}`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

try {
  await main();
  say(`PASS: every step passed in ${clock().trim()}`);
} catch (err) {
  // A step has printed its own failure; this names one outside any step too.
  say(`failed: ${(err as Error).message.split('\n')[0]}`);
  if (current) {
    console.log(`\n===== diagnostics of ${current} =====\n${await kube.diagnostics(current).catch((e) => String(e))}`);
  }
  const transcript = readFileSync(kube.logFile, 'utf8').split('\n').slice(-60).join('\n');
  console.log(`\n===== last kubectl/helm commands (full transcript: ${kube.logFile}) =====\n${transcript}`);
  if (KEEP) say(`CLUSTER_KEEP=1: namespaces left in place: ${created.join(', ')}`);
  else await cleanup();
  say('FAIL');
  process.exit(1);
}
await cleanup();
