// The chart's built-in NATS cluster run for real: 3 nats-server processes on loopback, each with the
// nats.conf of the rendered ConfigMap and the environment of the rendered StatefulSet (Secret keys,
// the pod name, Kubernetes' $(VAR) expansion), so a test can restart them one at a time the way a
// StatefulSet rolling update does, with another render's config.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary } from '../../scripts/lib/binaries.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { pollUntil } from '../../load/poll.ts';
import { find, podOf, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
const HEADLESS = `${F}-nats-headless.pubsub.svc`;

export interface Ports {
  client: number;
  route: number;
  monitor: number;
}

/**
 * An env list resolved as the kubelet does: secretKeyRef from the rendered Secret, fieldRef
 * metadata.name from the pod name, and $(NAME) in a value replaced by an earlier entry's value.
 */
export function resolveEnv(objs: K8sObject[], container: any, podName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      out[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => out[v] ?? m);
    } else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const data = find(objs, 'Secret', name).data ?? {};
      if (!(key in data)) throw new Error(`Secret ${name} has no key ${key}`);
      out[e.name] = Buffer.from(data[key]!, 'base64').toString('utf8');
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') {
      out[e.name] = podName;
    } else {
      throw new Error(`cannot resolve env ${e.name}`);
    }
  }
  return out;
}

/** Pod DNS names of the route URLs -> loopback ports (in the config and in the env). */
function toLoopback(text: string, ports: Ports[]): string {
  return ports.reduce((t, p, i) => t.replaceAll(`${F}-nats-${i}.${HEADLESS}:6222`, `127.0.0.1:${p.route}`), text);
}

function replaceOnce(text: string, re: RegExp, by: string): string {
  if (!re.test(text)) throw new Error(`nats.conf: ${re} not found`);
  return text.replace(re, by);
}

/** What one server runs: its nats.conf and environment, from a render of the chart. */
export function serverSetup(objs: K8sObject[], ordinal: number, ports: Ports[], dir: string) {
  const p = ports[ordinal]!;
  let conf = find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
  conf = replaceOnce(conf, /^port: 4222$/m, `port: ${p.client}\nhost: 127.0.0.1`);
  conf = replaceOnce(conf, /^http_port: 8222$/m, `http: 127.0.0.1:${p.monitor}`);
  conf = replaceOnce(conf, /^ {2}port: 6222$/m, `  listen: 127.0.0.1:${p.route}`);
  conf = replaceOnce(conf, /^pid_file: .*$/m, `pid_file: ${path.join(dir, `nats-${ordinal}.pid`)}`);
  conf = replaceOnce(conf, /^ {2}store_dir: .*$/m, `  store_dir: ${path.join(dir, `data-${ordinal}`)}`);
  // A StatefulSet's preStop lame-duck signal: not used here (the test sends SIGTERM).
  conf = toLoopback(conf, ports);
  const sts = find(objs, 'StatefulSet', `${F}-nats`);
  const container = podOf(sts).spec.containers.find((c: any) => c.name === 'nats');
  const env = Object.fromEntries(
    Object.entries(resolveEnv(objs, container, `${F}-nats-${ordinal}`)).map(([k, v]) => [k, toLoopback(v, ports)]),
  );
  return { conf, env };
}

export interface Server {
  ordinal: number;
  ports: Ports;
  log: string;
  running(): boolean;
  /**
   * Starts it with a render's config; resolves once its startup probe (/healthz: JetStream current
   * with the cluster) and readiness probe pass, as a StatefulSet waits before the next pod, or at
   * once with `{ wait: false }`.
   */
  start(objs: K8sObject[], opts?: { wait?: boolean }): Promise<void>;
  /** Whether its startup probe (/healthz) passes now. */
  healthy(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function allocatePorts(n: number): Promise<Ports[]> {
  const free = new Set<number>();
  while (free.size < n * 3) free.add(await freePort());
  const l = [...free];
  return Array.from({ length: n }, (_, i) => ({ client: l[3 * i]!, route: l[3 * i + 1]!, monitor: l[3 * i + 2]! }));
}

export function server(ordinal: number, ports: Ports[], dir: string): Server {
  const bin = findBinary('nats-server');
  const log = path.join(dir, `nats-${ordinal}.log`);
  let proc: ChildProcess | undefined;
  let start = 0;
  return {
    ordinal,
    ports: ports[ordinal]!,
    log,
    running: () => !!proc && proc.exitCode === null && proc.signalCode === null,
    async healthy() {
      const r = await fetch(`http://127.0.0.1:${ports[ordinal]!.monitor}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(
        () => undefined,
      );
      return !!r?.ok;
    },
    async start(objs, opts = {}) {
      const { conf, env } = serverSetup(objs, ordinal, ports, dir);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `nats-${ordinal}.${++start}.conf`);
      writeFileSync(file, conf);
      proc = spawn(bin, ['-c', file, '-l', log], { stdio: 'ignore', env: { PATH: process.env.PATH, ...env } });
      const abortIf = () => (proc?.exitCode !== null ? `exited: ${readFileSync(log, 'utf8').slice(-2000)}` : undefined);
      const probe = (q: string) => () => fetch(`http://127.0.0.1:${ports[ordinal]!.monitor}/healthz${q}`).then((r) => r.ok);
      if (opts.wait === false) {
        await pollUntil(probe('?js-server-only=true'), Boolean, { what: `nats-${ordinal} listening`, timeoutMs: 30_000, abortIf });
        return;
      }
      // The StatefulSet's startup probe, then its readiness probe.
      await pollUntil(probe(''), Boolean, { what: `nats-${ordinal} healthy`, timeoutMs: 60_000, abortIf });
      await pollUntil(probe('?js-server-only=true'), Boolean, { what: `nats-${ordinal} ready`, timeoutMs: 30_000, abortIf });
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
      });
    },
  };
}

/** Names of the servers this one has a route to (from its /routez). */
export async function routesOf(s: Server): Promise<Set<string>> {
  const r = await fetch(`http://127.0.0.1:${s.ports.monitor}/routez`, { signal: AbortSignal.timeout(2_000) });
  const body = (await r.json()) as { routes?: { remote_name?: string }[] };
  return new Set((body.routes ?? []).map((x) => x.remote_name ?? '').filter(Boolean));
}

/** The JetStream meta leader as this server sees it ("" = none: no quorum). */
export async function metaLeaderOf(s: Server): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${s.ports.monitor}/jsz`, { signal: AbortSignal.timeout(2_000) });
  const body = (await r.json()) as { meta_cluster?: { leader?: string } };
  return body.meta_cluster?.leader ?? '';
}
