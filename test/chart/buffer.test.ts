// The JetStream sizes the chart gives the apps: the events buffer (STREAM_MAX_BYTES), the dead letters
// (DLQ_MAX_BYTES) and the topic limit (MAX_TOPICS) that bounds the counter stream. nats-server
// reserves each stream's max_bytes out of max_file_store and refuses a stream that does not fit, so
// the chart derives or checks the cap against the built-in NATS's file store.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART, envOf, find, migrationJob, podOf, render, set, tryRender, workloads, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const DLQ_DEFAULT = 256 * MiB;

/** The chart's formula, written out independently: fileStore - dead letters - max(64 MiB, 10%). */
const headroom = (fileStore: number) => Math.max(64 * MiB, Math.floor(fileStore / 10));
const derived = (fileStore: number, dlq = DLQ_DEFAULT) => fileStore - dlq - headroom(fileStore);

const appEnv = (objs: K8sObject[], name: 'ingest' | 'consumer') =>
  envOf(podOf(find(objs, 'Deployment', `${F}-${name}`)).spec.containers[0]);
const cap = (args: string[]) => Number(appEnv(render(args), 'consumer').STREAM_MAX_BYTES);
const valueFiles = () => [
  ...readdirSync(path.join(CHART, 'ci')).map((f) => path.join(CHART, 'ci', f)),
  path.join(CHART, '../../k8s/values-kind.yaml'),
  path.join(CHART, '../../k8s/values-minikube.yaml'),
];

describe('events buffer cap (STREAM_MAX_BYTES)', () => {
  it('is derived from the default 8Gi file store, and cannot fill it nor the 10Gi volume', () => {
    const objs = render();
    const expected = 8 * GiB - DLQ_DEFAULT - Math.floor((8 * GiB) / 10);
    expect(expected).toBe(7_462_505_677);
    expect(appEnv(objs, 'consumer')).toMatchObject({ STREAM_MAX_BYTES: String(expected), DLQ_MAX_BYTES: String(DLQ_DEFAULT) });
    // What nats-server reserves, plus the headroom, is the file store; the file store is below the PVC.
    expect(expected + DLQ_DEFAULT + headroom(8 * GiB)).toBe(8 * GiB);
    const conf = find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    expect(conf).toMatch(/max_file_store: 8Gi/);
    expect(find(objs, 'StatefulSet', `${F}-nats`).spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi');
  });

  it.each([
    ['20Gi', '25Gi', 20 * GiB],
    ['10G', '10Gi', 10e9], // nats-server: G = 10^9
    ['1Gi', '2Gi', GiB], // the kind/minikube size: 10% = 102.4 MiB
    ['512Mi', '1Gi', 512 * MiB], // 10% is below the 64 MiB floor
  ])('follows nats.jetstream.fileStore.maxSize=%s', (maxSize, pvc, bytes) => {
    const args = set({ 'nats.jetstream.fileStore.maxSize': maxSize, 'nats.jetstream.fileStore.pvc.size': pvc });
    expect(cap(args)).toBe(derived(bytes));
  });

  it('leaves room for a larger dead-letter stream', () => {
    expect(cap(set({ 'config.stream.deadLetterMaxBytes': GiB }))).toBe(derived(8 * GiB, GiB));
    expect(appEnv(render(set({ 'config.stream.deadLetterMaxBytes': GiB })), 'consumer').DLQ_MAX_BYTES).toBe(String(GiB));
  });

  it('an explicit cap that fits is passed as it is; one byte more is refused, naming the values', () => {
    const max = derived(8 * GiB);
    expect(cap(set({ 'config.stream.maxBytes': GiB }))).toBe(GiB);
    expect(cap(set({ 'config.stream.maxBytes': max }))).toBe(max);
    const r = tryRender(set({ 'config.stream.maxBytes': max + 1 }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(
      `config.stream.maxBytes (${max + 1}) + config.stream.deadLetterMaxBytes (${DLQ_DEFAULT}) + headroom (${headroom(8 * GiB)}) exceed nats.jetstream.fileStore.maxSize (8Gi = ${8 * GiB} B)`,
    );
    expect(r.stderr).toContain(`at most ${max}`);
    // The dead letters count too.
    expect(tryRender(set({ 'config.stream.maxBytes': GiB, 'config.stream.deadLetterMaxBytes': 7 * GiB })).stderr).toContain(
      'exceed nats.jetstream.fileStore.maxSize',
    );
  });

  it('a derived cap under 1 MiB is refused', () => {
    const r = tryRender(set({ 'nats.jetstream.fileStore.maxSize': '300Mi' }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(
      /config\.stream\.maxBytes derived from nats\.jetstream\.fileStore\.maxSize \(300Mi = 314572800 B\).*below 1 MiB/,
    );
    // 333 MiB leaves 333 - 256 - 64 = 13 MiB: accepted.
    expect(cap(set({ 'nats.jetstream.fileStore.maxSize': '333Mi' }))).toBe(13 * MiB);
  });

  it('external NATS: the cap must be given (its file store is unknown to the chart), and is passed as it is', () => {
    const external = set({ 'nats.enabled': false, 'externalNats.url': 'nats://nats:4222' });
    const r = tryRender(external);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('config.stream.maxBytes is required with an external NATS (nats.enabled=false)');
    expect(r.stderr).toContain('k8s/nats-values.yaml');
    // No built-in file store to check against, whatever nats.jetstream says.
    expect(cap([...external, ...set({ 'config.stream.maxBytes': 40 * GiB })])).toBe(40 * GiB);
  });

  it('the schema refuses -1 (no cap), caps below 1 MiB, and the removed age limit', () => {
    expect(tryRender(set({ 'config.stream.maxBytes': -1 })).stderr).toMatch(/\/config\/stream\/maxBytes/);
    expect(tryRender(set({ 'config.stream.maxBytes': MiB - 1 })).stderr).toMatch(/\/config\/stream\/maxBytes/);
    expect(tryRender(set({ 'config.stream.deadLetterMaxBytes': MiB - 1 })).stderr).toMatch(/\/config\/stream\/deadLetterMaxBytes/);
    expect(tryRender(set({ 'config.stream.maxAgeMs': 604800000 })).stderr).toMatch(/additional properties 'maxAgeMs' not allowed/);
  });

  it('no container gets STREAM_MAX_AGE_MS (an age limit would delete events not yet stored), in any value set', () => {
    for (const file of valueFiles()) {
      const objs = render(['-f', file]);
      for (const w of workloads(objs)) {
        const { spec } = podOf(w);
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          expect(envOf(c).STREAM_MAX_AGE_MS, `${file}: ${w.metadata.name}/${c.name}`).toBeUndefined();
        }
      }
    }
  });

  it('every value set renders a cap that fits its file store (or, external, the one k8s/nats-values.yaml sets up)', () => {
    for (const file of valueFiles()) {
      const values = parse(readFileSync(file, 'utf8')) ?? {};
      const env = appEnv(render(['-f', file]), 'consumer');
      const streamBytes = Number(env.STREAM_MAX_BYTES);
      const dlq = Number(env.DLQ_MAX_BYTES);
      expect(streamBytes, file).toBeGreaterThanOrEqual(MiB);
      if (values.nats?.enabled === false) {
        expect(streamBytes, file).toBe(values.config.stream.maxBytes);
      } else {
        const size = String(values.nats?.jetstream?.fileStore?.maxSize ?? '8Gi');
        const bytes = Number(size.replace(/Gi$/, '')) * GiB;
        expect(streamBytes + dlq + headroom(bytes), file).toBeLessThanOrEqual(bytes);
      }
    }
  });
});

describe('k8s/nats-values.yaml (the official chart, external NATS)', () => {
  const official = parse(readFileSync(path.join(CHART, '../../k8s/nats-values.yaml'), 'utf8'));
  const js = official.config.jetstream;
  const bytes = (s: string) => Number(/^(\d+)Gi$/.exec(s)![1]) * GiB;

  it('gives JetStream a fixed file store below its PVC', () => {
    expect(js.fileStore.maxSize).toMatch(/^\d+Gi$/);
    expect(bytes(js.fileStore.maxSize)).toBeLessThan(bytes(js.fileStore.pvc.size));
  });

  it('the sizes its comment tells pubsub-aggregator to set fit that store, and the external CI value set uses them', () => {
    const text = readFileSync(path.join(CHART, '../../k8s/nats-values.yaml'), 'utf8');
    const maxBytes = Number(/--set config\.stream\.maxBytes=(\d+)/.exec(text)![1]);
    const dlq = Number(/--set config\.stream\.deadLetterMaxBytes=(\d+)/.exec(text)![1]);
    const store = bytes(js.fileStore.maxSize);
    expect(maxBytes + dlq + headroom(store)).toBeLessThanOrEqual(store);
    const external = parse(readFileSync(path.join(CHART, 'ci/external-values.yaml'), 'utf8'));
    expect(external.config.stream.maxBytes).toBe(maxBytes);
    expect(external.config.stream.deadLetterMaxBytes ?? DLQ_DEFAULT).toBe(dlq);
  });
});

describe('topic limit (MAX_TOPICS)', () => {
  it('reaches ingest only', () => {
    const objs = render(set({ 'ingest.maxTopics': 500 }));
    expect(appEnv(objs, 'ingest').MAX_TOPICS).toBe('500');
    expect(appEnv(objs, 'consumer').MAX_TOPICS).toBeUndefined();
    expect(envOf(podOf(migrationJob(objs)).spec.containers[0]).MAX_TOPICS).toBeUndefined();
    expect(appEnv(render(), 'ingest').MAX_TOPICS).toBe('10000');
  });

  it('is 1..1000000, and its counter stream must fit what the reserved streams leave of the built-in file store', () => {
    expect(tryRender(set({ 'ingest.maxTopics': 0 })).stderr).toMatch(/\/ingest\/maxTopics/);
    expect(tryRender(set({ 'ingest.maxTopics': 1_000_001 })).stderr).toMatch(/\/ingest\/maxTopics/);
    // 8Gi: 819 MiB of headroom holds a million counters (~512 MB).
    expect(appEnv(render(set({ 'ingest.maxTopics': 1_000_000 })), 'ingest').MAX_TOPICS).toBe('1000000');
    // 1Gi: 102 MiB does not.
    const small = set({ 'nats.jetstream.fileStore.maxSize': '1Gi', 'nats.jetstream.fileStore.pvc.size': '2Gi' });
    const r = tryRender([...small, ...set({ 'ingest.maxTopics': 1_000_000 })]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('ingest.maxTopics (1000000) needs about 512000512 B for the counter stream');
    expect(tryRender([...small, ...set({ 'ingest.maxTopics': 200_000 })]).ok).toBe(true);
    // A smaller explicit buffer leaves the counters more room.
    expect(tryRender([...small, ...set({ 'ingest.maxTopics': 1_000_000, 'config.stream.maxBytes': 256 * MiB })]).ok).toBe(true);
  });
});
