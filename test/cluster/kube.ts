// kubectl and helm for the cluster tests: every command's output goes to a log file (shown when a
// step fails), every wait is bounded, and nothing here knows which cluster it talks to beyond what
// KUBECONFIG says.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../../load/poll.ts';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Working directory (default: this process's). */
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Kube {
  private seq = 0;

  constructor(
    /** Where command transcripts go. */
    readonly logDir: string,
    readonly helmBin = 'helm',
    readonly kubectlBin = 'kubectl',
  ) {}

  get logFile() {
    return path.join(this.logDir, 'commands.log');
  }

  /** Runs a command; resolves with its outcome (never rejects on a non-zero exit). */
  run(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const n = ++this.seq;
    appendFileSync(
      this.logFile,
      `\n[${new Date().toISOString()}] #${n} $ ${opts.cwd ? `(in ${opts.cwd}) ` : ''}${bin} ${args.join(' ')}\n`,
    );
    return new Promise((resolve) => {
      const proc = spawn(bin, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : undefined,
      });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => proc.kill('SIGTERM'), opts.timeoutMs ?? 15 * 60_000);
      proc.once('close', (code) => {
        clearTimeout(timer);
        // A failed command's output in full (tail), a successful one's only briefly: `get -o json` is long.
        const keep = code === 0 ? 1_500 : 20_000;
        const out = stdout.length > keep ? `…${stdout.slice(-keep)}` : stdout;
        appendFileSync(this.logFile, `#${n} exit ${code}\n${out}${stderr ? `\n--- stderr\n${stderr.slice(-20_000)}` : ''}\n`);
        resolve({ code: code ?? 1, stdout, stderr });
      });
      proc.stdin.end(opts.input ?? '');
    });
  }

  /** Like run, but throws (with stderr) unless the command succeeds. */
  async ok(bin: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.run(bin, args, opts);
    if (r.code !== 0)
      throw new Error(
        `${path.basename(bin)} ${args.slice(0, 4).join(' ')}… failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2_000)}`,
      );
    return r.stdout;
  }

  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }) {
    return this.ok(this.kubectlBin, args, opts);
  }

  helm(args: string[], opts?: { timeoutMs?: number }) {
    return this.ok(this.helmBin, args, opts);
  }

  async json<T = any>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, '-o', 'json'])) as T;
  }

  async apply(ns: string | undefined, obj: object) {
    await this.kubectl([...(ns ? ['-n', ns] : []), 'apply', '-f', '-'], { input: JSON.stringify(obj) });
  }

  /** The release's pods with their readiness and restart counts. */
  async pods(ns: string, selector = ''): Promise<PodInfo[]> {
    const list = await this.json<{ items: any[] }>(['-n', ns, 'get', 'pods', ...(selector ? ['-l', selector] : [])]);
    return list.items.map((p) => ({
      name: p.metadata.name as string,
      component: (p.metadata.labels?.['app.kubernetes.io/component'] ?? '') as string,
      phase: p.status.phase as string,
      ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
      restarts: (p.status.containerStatuses ?? []).reduce((n: number, c: any) => n + (c.restartCount ?? 0), 0),
      deleting: Boolean(p.metadata.deletionTimestamp),
    }));
  }

  /** Polls `check` until it returns a truthy value or the time is up (then throws, naming `what`). */
  async until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 1_000): Promise<T> {
    return (await pollUntil(check, Boolean, { what, timeoutMs, intervalMs: everyMs })) as T;
  }

  /**
   * Waits until every Deployment and StatefulSet in `ns` has all its replicas updated and ready, and
   * no pod of `instance` is still terminating: an old ingest pod keeps answering on its open
   * keep-alive connections through its preStop sleep, so a check right after a roll could meet it.
   */
  async rolledOut(ns: string, timeoutMs = 10 * 60_000, instance = 'pubsub-aggregator') {
    await this.until(
      `every workload in ${ns} rolled out`,
      async () => {
        const list = await this.json<{ items: any[] }>(['-n', ns, 'get', 'deployments,statefulsets']);
        const done = list.items.every((w) => {
          const want = w.spec.replicas ?? 1;
          const s = w.status ?? {};
          return (
            (s.observedGeneration ?? 0) >= w.metadata.generation &&
            (s.updatedReplicas ?? 0) === want &&
            (s.readyReplicas ?? 0) === want &&
            (s.replicas ?? 0) === want
          );
        });
        return done && (await this.pods(ns, `app.kubernetes.io/instance=${instance}`)).every((p) => !p.deleting);
      },
      timeoutMs,
      2_000,
    );
  }

  /** What to look at when a step failed: pods, recent events, and the tail of every container's log. */
  async diagnostics(ns: string): Promise<string> {
    const parts: string[] = [];
    const add = async (title: string, args: string[]) => {
      const r = await this.run(this.kubectlBin, args, { timeoutMs: 30_000 });
      parts.push(`----- ${title}\n${(r.stdout + r.stderr).trim()}`);
    };
    await add(`pods in ${ns}`, ['-n', ns, 'get', 'pods,pvc', '-o', 'wide']);
    await add('events (last 30)', ['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']);
    parts[parts.length - 1] = parts.at(-1)!.split('\n').slice(-31).join('\n');
    const pods = await this.pods(ns).catch(() => []);
    // Every running pod's log, ready or not: a step can fail with every pod ready (a consumer that
    // stopped consuming, a proxy that lost an endpoint), and the apps log at warn and above only.
    for (const p of pods.filter((x) => x.phase !== 'Succeeded')) {
      await add(`logs ${p.name} (tail 40, all containers, previous included)`, [
        '-n',
        ns,
        'logs',
        p.name,
        '--all-containers',
        '--tail=40',
        '--prefix',
      ]);
      const prev = await this.run(this.kubectlBin, ['-n', ns, 'logs', p.name, '--all-containers', '--tail=40', '--prefix', '--previous'], {
        timeoutMs: 30_000,
      });
      if (prev.code === 0) parts.push(`----- previous ${p.name}\n${prev.stdout.trim()}`);
    }
    return parts.join('\n');
  }
}

export interface PodInfo {
  name: string;
  component: string;
  phase: string;
  ready: boolean;
  restarts: number;
  deleting: boolean;
}

/**
 * A TCP connect from inside a pod (its image must have node), e.g. to prove a NetworkPolicy: "open",
 * "refused", "timeout" or another error code. kube-router answers denied traffic with a REJECT, other
 * engines drop it: both count as blocked.
 */
export async function tcpFrom(
  kube: Kube,
  ns: string,
  target: string,
  container: string | undefined,
  host: string,
  port: number,
): Promise<string> {
  const script =
    `const s=require("net").connect({host:process.argv[1],port:+process.argv[2],timeout:4000});` +
    `s.on("connect",()=>{console.log("open");process.exit(0)});s.on("timeout",()=>{console.log("timeout");process.exit(0)});` +
    `s.on("error",e=>{console.log(e.code==="ECONNREFUSED"?"refused":e.code);process.exit(0)})`;
  const out = await kube.kubectl(
    ['-n', ns, 'exec', target, ...(container ? ['-c', container] : []), '--', 'node', '-e', script, host, String(port)],
    { timeoutMs: 60_000 },
  );
  return out.trim();
}
