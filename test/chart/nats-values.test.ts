// k8s/nats-values.yaml, the values for the official NATS chart (nats-io/k8s). That chart is not part
// of this repository and cannot be fetched here, so these tests read the values as the chart's
// merge/patch layout applies them: route credentials kept out of the ConfigMap, the users, the
// security contexts, the spread, the PDB policy and who the NetworkPolicy admits.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { allowed, CHART, type Endpoint, type K8sObject } from './helm.ts';

const FILE = path.join(CHART, '../../k8s/nats-values.yaml');
const text = readFileSync(FILE, 'utf8');
const v = parse(text);
const replicas: number = v.config.cluster.replicas;

describe('k8s/nats-values.yaml (official NATS chart)', () => {
  it('pins the chart version in its install command', () => {
    expect(text).toMatch(/helm upgrade --install nats nats\/nats --version \d+\.\d+\.\d+ /);
    expect(text).not.toMatch(/chart 1\.x/);
  });

  it('routes log in with a password from the environment; no password is written into the values', () => {
    const cluster = v.config.merge.cluster;
    expect(cluster.authorization).toEqual({ user: 'route', password: '<< $NATS_ROUTE_PASSWORD >>' });
    expect(cluster.routes).toEqual(Array.from({ length: replicas }, (_, i) => `<< $NATS_ROUTE_URL_${i} >>`));
    const env = v.container.env;
    expect(env.NATS_ROUTE_PASSWORD).toEqual({ valueFrom: { secretKeyRef: { name: 'nats-users', key: 'route-password' } } });
    for (let i = 0; i < replicas; i++) {
      expect(env[`NATS_ROUTE_URL_${i}`]).toBe(`nats://route:$(NATS_ROUTE_PASSWORD)@nats-${i}.nats-headless:6222`);
    }
    // The chart renders container.env sorted by name, and Kubernetes expands $(VAR) only from an
    // earlier entry: the password must sort first.
    const names = Object.keys(env).sort();
    expect(names.indexOf('NATS_ROUTE_PASSWORD')).toBeLessThan(names.indexOf('NATS_ROUTE_URL_0'));
    // Every password is a Secret reference, and the Secret the header creates has each key.
    for (const [name, e] of Object.entries<any>(env)) {
      if (!name.endsWith('_PASSWORD')) continue;
      expect(e.valueFrom?.secretKeyRef?.name, name).toBe('nats-users');
      expect(text, name).toContain(`--from-literal=${e.valueFrom.secretKeyRef.key}=`);
    }
  });

  it('has a dead-letters user next to the apps and admin, limited to the dead-letter stream and events.>', () => {
    const users = v.config.merge.authorization.users as Array<{ user: string; password: string; permissions?: any }>;
    expect(users.map((u) => u.user)).toEqual(['ingest', 'consumer', 'dead-letters', 'admin']);
    const dl = users.find((u) => u.user === 'dead-letters')!;
    expect(dl.password).toBe('<< $NATS_DEAD_LETTERS_PASSWORD >>');
    expect(v.container.env.NATS_DEAD_LETTERS_PASSWORD.valueFrom.secretKeyRef.key).toBe('dead-letters-password');
    const pub: string[] = dl.permissions.publish.allow;
    expect(pub).toContain('events.>');
    expect(pub).toContain('$JS.API.STREAM.INFO.EVENTS_DLQ');
    // Nothing on the event stream's or the counters' API, no stream delete or update.
    for (const s of pub.filter((x) => x.startsWith('$JS.'))) {
      expect(s === '$JS.API.INFO' || s.includes('EVENTS_DLQ'), s).toBe(true);
      expect(s, s).not.toMatch(/STREAM\.(DELETE|UPDATE|CREATE)/);
    }
  });

  it('the nats, reloader and exporter containers run without root, privileges or a writable root filesystem', () => {
    const pod = v.podTemplate.merge.spec.securityContext;
    expect(pod).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.runAsUser).toBeGreaterThan(0);
    for (const c of [v.container, v.reloader, v.promExporter]) {
      expect(c.merge.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    }
    expect(v.reloader.enabled).toBe(true);
    expect(v.promExporter.enabled).toBe(true);
  });

  it('never puts two servers on one node, and lets drains evict unhealthy servers', () => {
    const spread = v.podTemplate.topologySpreadConstraints['kubernetes.io/hostname'];
    expect(spread).toEqual({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', minDomains: replicas });
    expect(v.podDisruptionBudget).toEqual({ enabled: true, merge: { spec: { unhealthyPodEvictionPolicy: 'AlwaysAllow' } } });
  });

  describe('its NetworkPolicy (extraResources)', () => {
    const policies = (v.extraResources as K8sObject[]).filter((o) => o.kind === 'NetworkPolicy');
    // Pods as the official chart labels them (release "nats"), in the policy's namespace.
    const nats: Endpoint = {
      labels: { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats', 'app.kubernetes.io/component': 'nats' },
    };
    const ns = (name: string) => ({ 'kubernetes.io/metadata.name': name });
    const ingest: Endpoint = {
      labels: { 'app.kubernetes.io/name': 'pubsub-aggregator', 'app.kubernetes.io/component': 'ingest' },
      namespaceLabels: ns('pubsub'),
    };
    const consumer: Endpoint = {
      labels: { 'app.kubernetes.io/name': 'pubsub-aggregator', 'app.kubernetes.io/component': 'consumer' },
      namespaceLabels: ns('pubsub'),
    };
    const strangerInApp: Endpoint = { labels: { app: 'curl' }, namespaceLabels: ns('pubsub') };
    const prometheus: Endpoint = { labels: { app: 'prometheus' }, namespaceLabels: ns('monitoring') };
    const neighbour: Endpoint = { labels: { app: 'other' } }; // another pod in the NATS namespace

    it('is one policy selecting the NATS pods', () => {
      expect(policies).toHaveLength(1);
      expect(policies[0]!.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats' });
    });

    it('clients (4222): only pubsub-aggregator pods of the app namespace', () => {
      expect(allowed(policies, ingest, nats, 4222)).toBe(true);
      expect(allowed(policies, consumer, nats, 4222)).toBe(true);
      expect(allowed(policies, strangerInApp, nats, 4222)).toBe(false);
      expect(allowed(policies, neighbour, nats, 4222)).toBe(false);
      expect(allowed(policies, prometheus, nats, 4222)).toBe(false);
    });

    it('routes (6222): only between the NATS servers', () => {
      expect(allowed(policies, nats, nats, 6222)).toBe(true);
      expect(allowed(policies, ingest, nats, 6222)).toBe(false);
      expect(allowed(policies, neighbour, nats, 6222)).toBe(false);
    });

    it('monitoring (8222) and the exporter (7777): only from the monitoring namespace', () => {
      for (const port of [8222, 7777]) {
        expect(allowed(policies, prometheus, nats, port), String(port)).toBe(true);
        expect(allowed(policies, ingest, nats, port), String(port)).toBe(false);
        expect(allowed(policies, neighbour, nats, port), String(port)).toBe(false);
      }
    });
  });
});
