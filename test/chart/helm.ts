// Helpers for the chart tests: render charts/pubsub-aggregator with the pinned helm, parse the
// objects, and evaluate NetworkPolicies the way Kubernetes does (for pods of one namespace).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = path.join(ROOT, 'charts/pubsub-aggregator');
export const NAMESPACE = 'pubsub';
export const RELEASE = 'pubsub-aggregator';
const PREREQS_DIR =
  process.env.PREREQS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pubsub-aggregator');

/** A binary from PATH or from the project's pinned tools dir, or undefined. */
export function tool(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), path.join(PREREQS_DIR, 'bin')]) {
    const p = path.join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

const HELM = tool('helm');
if (!HELM) throw new Error('helm not found: run `bash scripts/install-prereqs.sh k8s` (or scripts/check-chart.sh) first');

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

export interface RenderResult {
  ok: boolean;
  stderr: string;
  objects: K8sObject[];
}

/** `helm template` with --set style args and/or values files; never throws on a helm failure. */
export function tryRender(args: string[] = [], opts: { release?: string; revision?: number } = {}): RenderResult {
  const cmd = ['template', opts.release ?? RELEASE, CHART, '--namespace', NAMESPACE, '--kube-version', '1.30.0', ...args];
  const res = spawnSync(HELM!, cmd, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) return { ok: false, stderr: res.stderr, objects: [] };
  const objects = parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === 'object' && 'kind' in o);
  return { ok: true, stderr: res.stderr, objects };
}

/** Like tryRender, but async (so an in-process fake API server can answer helm's requests). */
export function tryRenderAsync(args: string[], env: Record<string, string> = {}, chart = CHART): Promise<RenderResult> {
  const cmd = ['template', RELEASE, chart, '--namespace', NAMESPACE, ...args];
  return new Promise((resolve) => {
    const proc = spawn(HELM!, cmd, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.once('exit', (code) => {
      if (code !== 0) return resolve({ ok: false, stderr, objects: [] });
      const objects = parseAllDocuments(stdout)
        .map((d) => d.toJS() as K8sObject | null)
        .filter((o): o is K8sObject => !!o && typeof o === 'object' && 'kind' in o);
      resolve({ ok: true, stderr, objects });
    });
  });
}

export function render(args: string[] = [], opts: { release?: string } = {}): K8sObject[] {
  const r = tryRender(args, opts);
  if (!r.ok) throw new Error(`helm template failed: ${r.stderr}`);
  return r.objects;
}

/** --set pairs from an object: set({a: 1}) -> ['--set', 'a=1']. */
export function set(values: Record<string, string | number | boolean>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

export const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered; have: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** The migration Job: its name ends in a hash of what it runs (templates/_migration.tpl). */
export function migrationJob(objs: K8sObject[]): K8sObject {
  const jobs = objs.filter((o) => o.kind === 'Job' && o.metadata.labels?.['app.kubernetes.io/component'] === 'migration');
  if (jobs.length !== 1) throw new Error(`expected one migration Job, rendered ${jobs.map((j) => j.metadata.name).join(', ') || 'none'}`);
  return jobs[0]!;
}

/** Pod template (labels + spec) of a workload or a bare Pod. */
export function podOf(o: K8sObject): { labels: Record<string, string>; spec: any } {
  if (o.kind === 'Pod') return { labels: o.metadata.labels ?? {}, spec: o.spec };
  if (o.kind === 'Job') return { labels: o.spec.template.metadata.labels, spec: o.spec.template.spec };
  return { labels: o.spec.template.metadata.labels, spec: o.spec.template.spec };
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'Pod'];
export const workloads = (objs: K8sObject[]) => objs.filter((o) => WORKLOAD_KINDS.includes(o.kind));

export function envOf(container: any): Record<string, any> {
  return Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
}

// ---- NetworkPolicy evaluation ----------------------------------------------------------------------

export interface Endpoint {
  labels: Record<string, string>;
  /** Namespace labels; undefined = the release namespace. */
  namespaceLabels?: Record<string, string>;
  /** For destinations outside the cluster (e.g. a managed database). */
  ip?: string;
}

const matchLabels = (sel: any, labels: Record<string, string>) =>
  Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && !sel?.matchExpressions?.length;

const RELEASE_NS_LABELS = { 'kubernetes.io/metadata.name': NAMESPACE };

function peerMatches(peer: any, ep: Endpoint): boolean {
  if (peer.ipBlock) return !!ep.ip && ipInCidr(ep.ip, peer.ipBlock.cidr);
  if (ep.ip) return false;
  // A peer without namespaceSelector means the policy's (the release's) namespace.
  const nsOk = peer.namespaceSelector
    ? matchLabels(peer.namespaceSelector, ep.namespaceLabels ?? RELEASE_NS_LABELS)
    : ep.namespaceLabels === undefined;
  const podOk = peer.podSelector ? matchLabels(peer.podSelector, ep.labels) : true;
  return nsOk && podOk;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (toInt(ip) & mask) === (toInt(base!) & mask);
}

function portMatches(rule: any, port: number, protocol: string): boolean {
  if (!rule.ports) return true;
  return rule.ports.some((p: any) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port));
}

/** Whether the policies in objs let traffic from src reach dst:port (both directions checked). */
export function allowed(objs: K8sObject[], src: Endpoint, dst: Endpoint, port: number, protocol = 'TCP'): boolean {
  const policies = byKind(objs, 'NetworkPolicy');
  const inNs = (ep: Endpoint) => !ep.ip && ep.namespaceLabels === undefined;
  const direction = (ep: Endpoint, type: 'Ingress' | 'Egress', other: Endpoint) => {
    if (!inNs(ep)) return true; // not governed by this release's policies
    const selecting = policies.filter(
      (p) => matchLabels(p.spec.podSelector, ep.labels) && (p.spec.policyTypes ?? ['Ingress']).includes(type),
    );
    if (selecting.length === 0) return true;
    const rules = selecting.flatMap((p) => (type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []);
    return rules.some((r: any) => {
      const peers = type === 'Ingress' ? r.from : r.to;
      return portMatches(r, port, protocol) && (!peers || peers.some((peer: any) => peerMatches(peer, other)));
    });
  };
  return direction(src, 'Egress', dst) && direction(dst, 'Ingress', src);
}

// ---- A fake Kubernetes API server for `lookup` -------------------------------------------------------

/**
 * Runs `fn` with a KUBECONFIG pointing at an in-process API server that holds `objects` (Secrets,
 * StatefulSets): helm's `--dry-run=server` rendering then runs the chart's `lookup` against them,
 * as an upgrade of a release holding those objects does. Enough discovery for helm, nothing more.
 */
export async function withFakeCluster<T>(objects: () => K8sObject[], fn: (env: { KUBECONFIG: string }) => Promise<T>): Promise<T> {
  const resources: Record<string, { group: string; plural: string; kind: string }> = {
    Secret: { group: 'v1', plural: 'secrets', kind: 'Secret' },
    StatefulSet: { group: 'apps/v1', plural: 'statefulsets', kind: 'StatefulSet' },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const list = (groupVersion: string) => ({
      kind: 'APIResourceList',
      groupVersion,
      resources: Object.values(resources)
        .filter((r) => r.group === groupVersion)
        .map((r) => ({ name: r.plural, singularName: r.kind.toLowerCase(), namespaced: true, kind: r.kind, verbs: ['get'] })),
    });
    if (url.pathname === '/version') return send(200, { major: '1', minor: '30', gitVersion: 'v1.30.0' });
    if (url.pathname === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'] });
    if (url.pathname === '/apis')
      return send(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          {
            name: 'apps',
            versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
            preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
          },
        ],
      });
    if (url.pathname === '/api/v1') return send(200, list('v1'));
    if (url.pathname === '/apis/apps/v1') return send(200, list('apps/v1'));
    for (const o of objects()) {
      const r = resources[o.kind]!;
      const base = r.group === 'v1' ? '/api/v1' : `/apis/${r.group}`;
      if (url.pathname === `${base}/namespaces/${NAMESPACE}/${r.plural}/${o.metadata.name}`)
        return send(200, { ...o, metadata: { namespace: NAMESPACE, ...o.metadata } });
    }
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-fake-cluster-'));
  try {
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'fake',
        clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } }],
        users: [{ name: 'fake', user: {} }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: NAMESPACE } }],
      }),
    );
    return await fn({ KUBECONFIG: kubeconfig });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
