// Cluster steps: the skaffold paths users take, on the cluster itself. `skaffold run -p <profiles>`
// builds (k8s/build-into-containerd.sh with the containerd profile), deploys and waits, then `helm
// test`; `skaffold dev` in a scratch copy of the checkout rebuilds and rolls out a changed source
// file, and on SIGINT (Ctrl-C) removes the release as docs/kubernetes.md says.
//
// Isolation from the rest of the suite and from the user's own setup: the release goes to the suite's
// namespace (`-n`); skaffold's own port-forward is off (`--port-forward=off`: its localhost:8080 may be
// taken; the suite forwards with kubectl to a free port instead); the containerd profile's ingest is a
// ClusterIP Service, so no NodePort can collide; skaffold's global config and artifact cache are
// files of this run (`--config`, `--cache-file`), not ~/.skaffold.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { check } from '../check.ts';
import type { Kube } from '../kube.ts';
import { PortForward } from './port-forward.ts';

export interface SkaffoldContext {
  kube: Kube;
  ns: string;
  release: string;
  /** The checkout skaffold runs in (skaffold.yaml, the chart, the sources). */
  root: string;
  /** `-p` of every skaffold command, e.g. "containerd,kube-lab". */
  profiles: string;
  /** This run's directory for logs, the scratch checkout, skaffold's config and cache. */
  workDir: string;
  skaffoldBin: string;
  /** Environment for skaffold and the build script it runs (DOCKER_HOST, BUILDAH_FLAGS, CTR, ...). */
  env: Record<string, string>;
  runId: string;
  say: (line: string) => void;
}

const FLAGS = (ctx: SkaffoldContext) => [
  '-p',
  ctx.profiles,
  '-n',
  ctx.ns,
  '--port-forward=off',
  '--config',
  path.join(ctx.workDir, 'skaffold-config'),
  '--cache-file',
  path.join(ctx.workDir, 'skaffold-cache'),
  '--update-check=false',
  '--interactive=false',
];

/** `image` of the ingest Deployment's container, e.g. pubsub-aggregator:<id>. */
async function ingestImage(ctx: SkaffoldContext): Promise<string> {
  const d = await ctx.kube.json(['-n', ctx.ns, 'get', 'deployment', `${ctx.release}-ingest`]);
  return d.spec.template.spec.containers.find((c: any) => c.name === 'ingest').image as string;
}

/** The docker API skaffold asks for image IDs when it does not push: podman's, on a socket of this run. */
export async function startPodmanApi(workDir: string): Promise<{ dockerHost: string; stop: () => void }> {
  const socket = path.join(workDir, 'podman.sock');
  const log = openSync(path.join(workDir, 'podman.log'), 'a');
  const proc = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: ['ignore', log, log] });
  closeSync(log);
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', (err) => reject(new Error(`podman system service: ${err.message} (the containerd profile needs podman)`)));
    proc.once('exit', (code) => reject(new Error(`podman system service exited (${code}): ${path.join(workDir, 'podman.log')}`)));
  });
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = spawn('curl', ['-sf', '--unix-socket', socket, 'http://d/_ping'], { stdio: 'ignore' });
        c.once('exit', (code) => resolve(code === 0));
        c.once('error', () => resolve(false));
      });
      if (ok) return;
      await sleep(200);
    }
    throw new Error('podman system service did not answer on its socket within 20 s');
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (err) {
    proc.kill();
    throw err;
  }
  failed.catch(() => {});
  return { dockerHost: `unix://${socket}`, stop: () => proc.kill() };
}

/** skaffold run: built, deployed, every pod ready with 0 restarts, helm test passes. */
export async function skaffoldRunStep(ctx: SkaffoldContext): Promise<string> {
  const t0 = Date.now();
  const out = await ctx.kube.ok(ctx.skaffoldBin, ['run', ...FLAGS(ctx)], { cwd: ctx.root, env: ctx.env, timeoutMs: 25 * 60_000 });
  writeFileSync(path.join(ctx.workDir, 'skaffold-run.log'), out);
  const took = (Date.now() - t0) / 1000;
  const built = /build-into-containerd [^\]]*\] built in (\d+) s/.exec(out)?.[1];
  const loaded = /\] (loaded [^\n]*)/.exec(out)?.[1];
  const image = await ingestImage(ctx);
  check(
    /^pubsub-aggregator:[0-9a-f]{64}$/.test(image),
    `ingest runs ${image}, not the image skaffold built (pubsub-aggregator:<image ID>)`,
  );
  const pods = await ctx.kube.pods(ctx.ns);
  check(
    pods.length > 0 && pods.every((p) => p.phase === 'Succeeded' || p.ready),
    `pods not ready: ${pods.map((p) => `${p.name} ${p.phase}`).join(', ')}`,
  );
  const restarts = pods.reduce((n, p) => n + p.restarts, 0);
  check(
    restarts === 0,
    `pods restarted: ${pods
      .filter((p) => p.restarts)
      .map((p) => `${p.name} ${p.restarts}`)
      .join(', ')}`,
  );
  const helmTest = await ctx.kube.helm(['test', ctx.release, '-n', ctx.ns, '--logs', '--timeout', '5m']);
  const readBack = helmTest
    .split('\n')
    .find((l) => l.includes('read back'))
    ?.trim();
  check(readBack, 'helm test did not read its event back');
  return (
    `skaffold run -p ${ctx.profiles} -n ${ctx.ns} took ${took.toFixed(1)} s` +
    `${built ? ` (buildah ${built} s; ${loaded ?? 'loaded'})` : loaded ? ` (${loaded})` : ' (artifact cached, not rebuilt)'}\n` +
    `ingest runs ${image.slice(0, 30)}…; ${pods.length} pods ready, 0 restarts; helm test: ${readBack}`
  );
}

/** Copies the checkout's files (tracked and untracked, not ignored) to `dest`, as a user's clone would hold them. */
async function scratchCopy(kube: Kube, root: string, dest: string) {
  mkdirSync(dest, { recursive: true });
  await kube.ok(
    'sh',
    ['-c', 'git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$1"', 'sh', dest],
    {
      cwd: root,
      timeoutMs: 5 * 60_000,
    },
  );
}

/**
 * skaffold dev: a source change in a scratch copy is rebuilt and rolled out (a new image tag, pods
 * ready, GET / through a port-forward answered by the new code); SIGINT then removes the release.
 */
export async function skaffoldDevStep(ctx: SkaffoldContext): Promise<string> {
  const { kube, ns, release } = ctx;
  const scratch = path.join(ctx.workDir, 'checkout');
  await scratchCopy(kube, ctx.root, scratch);
  const logFile = path.join(ctx.workDir, 'skaffold-dev.log');
  const log = createWriteStream(logFile);
  let output = '';
  const dev: ChildProcess = spawn(ctx.skaffoldBin, ['dev', ...FLAGS(ctx)], {
    cwd: scratch,
    env: { ...process.env, ...ctx.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
  for (const s of [dev.stdout!, dev.stderr!]) {
    s.on('data', (d: Buffer) => {
      output += d.toString();
      log.write(d);
    });
  }
  const lines: string[] = [];
  const pf = new PortForward(kube, ns, `svc/${release}-ingest`, 8080, path.join(ctx.workDir, 'port-forward-dev.log'));
  try {
    const watching = (from: number) =>
      kube.until(
        'skaffold dev watching for changes',
        async () => {
          if (dev.exitCode !== null) throw new Error(`skaffold dev exited (${dev.exitCode}): ${output.slice(-2_000)}`);
          return output.indexOf('Watching for changes', from) >= 0;
        },
        20 * 60_000,
        1_000,
      );
    const t0 = Date.now();
    await watching(0);
    const before = await ingestImage(ctx);
    lines.push(`skaffold dev deployed and watching after ${((Date.now() - t0) / 1000).toFixed(1)} s (ingest ${before.slice(0, 30)}…)`);

    // The change: what the root route `/` answers.
    const marker = `pubsub-aggregator-ingest-dev-${ctx.runId}`;
    const source = path.join(scratch, 'apps/ingest/routes/health.ts');
    const text = readFileSync(source, 'utf8');
    check(text.includes("service: 'pubsub-aggregator-ingest'"), `${source} no longer has the service name this step changes`);
    const mark = output.length;
    const t1 = Date.now();
    writeFileSync(source, text.replace("service: 'pubsub-aggregator-ingest'", `service: '${marker}'`));
    await kube.until(
      'a new ingest image rolled out',
      async () => {
        if (dev.exitCode !== null) throw new Error(`skaffold dev exited (${dev.exitCode}): ${output.slice(-2_000)}`);
        return (await ingestImage(ctx)) !== before;
      },
      20 * 60_000,
      2_000,
    );
    await kube.rolledOut(ns, 10 * 60_000, release);
    await watching(mark);
    const after = await ingestImage(ctx);
    const rebuilt = (Date.now() - t1) / 1000;
    await pf.start();
    const root = await kube.until(
      'GET / answered by the new code',
      async () => {
        const r = await fetch(`${pf.url}/`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
        const body = r?.ok ? ((await r.json()) as { service?: string }) : undefined;
        return body?.service === marker ? body : undefined;
      },
      120_000,
      1_000,
    );
    const built = [...output.slice(mark).matchAll(/build-into-containerd [^\]]*\] built in (\d+) s/g)].at(-1)?.[1];
    lines.push(
      `changed apps/ingest/routes/health.ts: rebuilt${built ? ` (buildah ${built} s)` : ''}, redeployed and rolled out in ${rebuilt.toFixed(1)} s; ` +
        `ingest ${before.slice(0, 30)}… -> ${after.slice(0, 30)}…; GET / through ${pf.url}: service "${root.service}"`,
    );
    pf.stop();

    // Ctrl-C: skaffold dev cleans up what it deployed (docs/kubernetes.md, "Inner loop").
    const t2 = Date.now();
    dev.kill('SIGINT');
    const code = await Promise.race([exited, sleep(5 * 60_000).then(() => 'timeout' as const)]);
    check(code !== 'timeout', 'skaffold dev did not exit within 5 minutes of SIGINT');
    const status = await kube.run(kube.helmBin, ['status', release, '-n', ns]);
    check(
      status.code !== 0 && /not found/.test(status.stderr),
      `the release is still there after skaffold dev exited: ${status.stdout.slice(0, 300)}`,
    );
    const workloads = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'deployments,statefulsets,jobs'])).items.map(
      (w) => w.metadata.name,
    );
    check(workloads.length === 0, `left after skaffold dev: ${workloads.join(', ')}`);
    const pvcs = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'pvc'])).items.map((p) => p.metadata.name);
    check(pvcs.length === 2, `PVCs after skaffold dev: ${pvcs.join(', ') || '(none)'}, expected NATS's and PostgreSQL's`);
    const secrets = (await kube.json<{ items: any[] }>(['-n', ns, 'get', 'secrets'])).items.map((x) => x.metadata.name);
    for (const kept of [`${release}-postgresql`, `${release}-nats-users`]) check(secrets.includes(kept), `Secret ${kept} was deleted`);
    lines.push(
      `SIGINT: skaffold dev exited (${code}) in ${((Date.now() - t2) / 1000).toFixed(1)} s after helm uninstall; no workloads left; ` +
        `kept as documented: PVCs ${pvcs.join(', ')}, Secrets ${release}-postgresql and ${release}-nats-users, namespace ${ns}`,
    );
    return lines.join('\n');
  } finally {
    pf.stop();
    if (dev.exitCode === null) {
      dev.kill('SIGINT');
      await Promise.race([exited, sleep(120_000)]);
      if (dev.exitCode === null) dev.kill('SIGKILL');
    }
    log.end();
  }
}
