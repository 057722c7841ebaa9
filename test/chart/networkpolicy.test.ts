// NetworkPolicies, evaluated as Kubernetes would for the release's pods: who may talk to whom.
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { CHART, allowed, byKind, find, podOf, render, set, type Endpoint, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
/** The pod labels of each rendered workload, by component. */
function pods(objs: K8sObject[]): Record<string, Endpoint> {
  const out: Record<string, Endpoint> = {};
  for (const o of objs.filter((x) => ['Deployment', 'StatefulSet', 'Job', 'Pod'].includes(x.kind))) {
    const { labels } = podOf(o);
    out[labels['app.kubernetes.io/component']!] = { labels };
  }
  return out;
}
const kubeDns: Endpoint = { labels: { 'k8s-app': 'kube-dns' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' } };
const stranger: Endpoint = { labels: { app: 'curl' } }; // another pod in the same namespace
const outsider: Endpoint = { labels: { app: 'x' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'other' } };

describe('NetworkPolicies (defaults)', () => {
  const objs = render();
  const p = pods(objs);

  it('a default-deny policy selects every pod of the release, for ingress and egress', () => {
    const deny = find(objs, 'NetworkPolicy', `${F}-default-deny`);
    expect(deny.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': F, 'app.kubernetes.io/instance': F });
    expect(deny.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.spec.ingress).toBeUndefined();
    expect(deny.spec.egress).toBeUndefined();
    for (const [c, ep] of Object.entries(p)) {
      for (const [k, v] of Object.entries(deny.spec.podSelector.matchLabels)) expect(ep.labels[k], c).toBe(v);
    }
    expect(Object.keys(p).sort()).toEqual(['consumer', 'ingest', 'migration', 'nats', 'postgresql', 'test']);
  });

  it('ingest HTTP and metrics ports are reachable from anywhere by default; nothing else of ingest is', () => {
    expect(allowed(objs, stranger, p.ingest!, 8080)).toBe(true);
    expect(allowed(objs, outsider, p.ingest!, 8080)).toBe(true);
    expect(allowed(objs, outsider, p.ingest!, 9091)).toBe(true);
    expect(allowed(objs, stranger, p.ingest!, 9999)).toBe(false);
  });

  it('NATS client port only from ingest and consumer', () => {
    expect(allowed(objs, p.ingest!, p.nats!, 4222)).toBe(true);
    expect(allowed(objs, p.consumer!, p.nats!, 4222)).toBe(true);
    for (const c of ['migration', 'test', 'postgresql']) expect(allowed(objs, p[c]!, p.nats!, 4222), c).toBe(false);
    expect(allowed(objs, stranger, p.nats!, 4222)).toBe(false);
    expect(allowed(objs, outsider, p.nats!, 4222)).toBe(false);
  });

  it('PostgreSQL only from ingest, consumer and the migration Job', () => {
    for (const c of ['ingest', 'consumer', 'migration']) expect(allowed(objs, p[c]!, p.postgresql!, 5432), c).toBe(true);
    for (const c of ['nats', 'test']) expect(allowed(objs, p[c]!, p.postgresql!, 5432), c).toBe(false);
    expect(allowed(objs, stranger, p.postgresql!, 5432)).toBe(false);
  });

  it('the helm test pod reaches ingest, and nothing else', () => {
    expect(allowed(objs, p.test!, p.ingest!, 8080)).toBe(true);
    expect(allowed(objs, p.test!, p.consumer!, 9090)).toBe(false);
    expect(allowed(objs, p.test!, outsider, 443)).toBe(false);
  });

  it('every pod may resolve DNS, and may not reach arbitrary destinations', () => {
    for (const [c, ep] of Object.entries(p)) {
      expect(allowed(objs, ep, kubeDns, 53, 'UDP'), c).toBe(true);
      expect(allowed(objs, ep, kubeDns, 53, 'TCP'), c).toBe(true);
      expect(allowed(objs, ep, { labels: {}, ip: '203.0.113.7' }, 443), c).toBe(false);
    }
  });

  it('consumer metrics port is open to scrapers, the consumer has no other ingress', () => {
    expect(allowed(objs, outsider, p.consumer!, 9090)).toBe(true);
    expect(allowed(objs, outsider, p.consumer!, 8080)).toBe(false);
  });

  it('with one NATS server there is no cluster traffic at all', () => {
    expect(allowed(objs, p.nats!, p.nats!, 6222)).toBe(false);
  });
});

describe('NetworkPolicies (NATS cluster, narrowed sources)', () => {
  const objs = render([
    ...set({ 'nats.replicas': 3 }),
    '--set',
    'networkPolicy.ingest.from[0].namespaceSelector.matchLabels.team=edge',
    '--set',
    'networkPolicy.metrics.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
  ]);
  const p = pods(objs);
  const edge: Endpoint = { labels: { app: 'gw' }, namespaceLabels: { team: 'edge' } };
  const prometheus: Endpoint = { labels: { app: 'prometheus' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' } };

  it('cluster port only between NATS servers', () => {
    expect(allowed(objs, p.nats!, p.nats!, 6222)).toBe(true);
    for (const c of ['ingest', 'consumer']) expect(allowed(objs, p[c]!, p.nats!, 6222), c).toBe(false);
  });

  it('ingest only from the configured sources, plus the helm test', () => {
    expect(allowed(objs, edge, p.ingest!, 8080)).toBe(true);
    expect(allowed(objs, outsider, p.ingest!, 8080)).toBe(false);
    expect(allowed(objs, stranger, p.ingest!, 8080)).toBe(false);
    expect(allowed(objs, p.test!, p.ingest!, 8080)).toBe(true);
  });

  it('narrowing the API clients does not cut Prometheus off from ingest metrics (its own port)', () => {
    expect(allowed(objs, prometheus, p.ingest!, 9091)).toBe(true);
    expect(allowed(objs, prometheus, p.ingest!, 8080)).toBe(false);
    expect(allowed(objs, edge, p.ingest!, 9091)).toBe(false);
    // The scrape annotations point at that port.
    const ann = find(objs, 'Deployment', `${F}-ingest`).spec.template.metadata.annotations;
    expect(ann['prometheus.io/port']).toBe('9091');
  });

  it('metrics only from the configured scrapers', () => {
    expect(allowed(objs, prometheus, p.consumer!, 9090)).toBe(true);
    expect(allowed(objs, outsider, p.consumer!, 9090)).toBe(false);
    expect(allowed(objs, prometheus, p.nats!, 8222)).toBe(true);
    expect(allowed(objs, outsider, p.nats!, 8222)).toBe(false);
  });

  it('NATS monitoring (8222) and every /metrics port are closed to the rest of the namespace, the release included', () => {
    const targets: Array<[string, number]> = [
      ['nats', 8222],
      ['ingest', 9091],
      ['consumer', 9090],
    ];
    for (const [c, port] of targets) {
      expect(allowed(objs, stranger, p[c]!, port), `${c}:${port}`).toBe(false);
      for (const from of ['ingest', 'consumer', 'nats', 'test', 'migration', 'postgresql'])
        if (from !== c) expect(allowed(objs, p[from]!, p[c]!, port), `${from} -> ${c}:${port}`).toBe(false);
    }
    // The helm test pod needs only ingest's API port.
    expect(allowed(objs, p.test!, p.ingest!, 8080)).toBe(true);
  });

  it('the k6 Job (when enabled) reaches ingest', () => {
    const withK6 = render(['-f', path.join(CHART, 'ci/hpa-values.yaml')]);
    const q = pods(withK6);
    expect(allowed(withK6, q.k6!, q.ingest!, 8080)).toBe(true);
    expect(allowed(withK6, q.k6!, q.postgresql!, 5432)).toBe(false);
  });
});

describe('NetworkPolicies (external NATS and PostgreSQL)', () => {
  const objs = render(['-f', path.join(CHART, 'ci/external-values.yaml')]);
  const p = pods(objs);
  const natsPod: Endpoint = { labels: { 'app.kubernetes.io/name': 'nats' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'nats' } };

  it('egress to the external NATS and database only where configured', () => {
    expect(allowed(objs, p.ingest!, natsPod, 4222)).toBe(true);
    expect(allowed(objs, p.ingest!, outsider, 4222)).toBe(false);
    expect(allowed(objs, p.consumer!, { labels: {}, ip: '10.20.3.4' }, 5432)).toBe(true);
    expect(allowed(objs, p.migration!, { labels: {}, ip: '10.20.3.4' }, 5432)).toBe(true);
    expect(allowed(objs, p.consumer!, { labels: {}, ip: '10.99.0.1' }, 5432)).toBe(false);
    expect(allowed(objs, p.migration!, natsPod, 4222)).toBe(false);
  });
});

describe('NetworkPolicies (kind and minikube values: DNS only to CoreDNS)', () => {
  for (const file of ['values-kind.yaml', 'values-minikube.yaml']) {
    it(file, () => {
      const objs = render(['-f', path.join(CHART, '../../k8s', file)]);
      const p = pods(objs);
      const otherDns: Endpoint = { labels: { app: 'dnsmasq' }, namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' } };
      for (const [c, ep] of Object.entries(p)) {
        expect(allowed(objs, ep, kubeDns, 53, 'UDP'), c).toBe(true);
        expect(allowed(objs, ep, otherDns, 53, 'UDP'), c).toBe(false);
        expect(allowed(objs, ep, outsider, 53, 'UDP'), c).toBe(false);
      }
    });
  }
});

describe('NetworkPolicies off', () => {
  it('renders none', () => {
    expect(byKind(render(set({ 'networkPolicy.enabled': false })), 'NetworkPolicy')).toHaveLength(0);
  });
});
