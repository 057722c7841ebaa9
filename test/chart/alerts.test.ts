// The PrometheusRule (files/prometheus-rules.yaml wrapped for the Prometheus Operator) and the metrics
// the alerts and the dashboard read. The rules' behaviour is unit-tested by promtool
// (test/alerts/prometheus-rules.test.yaml); here: that the chart ships that very file, only where it
// can, and that what the rules read is what the apps export.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CHART, NAMESPACE, ROOT, byKind, find, render, set, tool } from './helm.ts';

const F = 'pubsub-aggregator';
const RULES = path.join(CHART, 'files/prometheus-rules.yaml');
const CRD = ['--api-versions', 'monitoring.coreos.com/v1/PrometheusRule'];
const fileGroups = () => (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: any[] }> }).groups;
const rulesOf = (objs: ReturnType<typeof render>) => byKind(objs, 'PrometheusRule');

describe('PrometheusRule', () => {
  it('is rendered only when enabled and the cluster serves the CRD', () => {
    expect(rulesOf(render())).toHaveLength(0);
    expect(rulesOf(render(CRD))).toHaveLength(0);
    // Enabled on a cluster without the Prometheus Operator: nothing that would fail the install.
    expect(rulesOf(render(set({ 'metrics.prometheusRule.enabled': true })))).toHaveLength(0);
    expect(rulesOf(render([...CRD, ...set({ 'metrics.prometheusRule.enabled': true })]))).toHaveLength(1);
    // The CI value set with every optional extra.
    const hpa = render(['-f', path.join(CHART, 'ci/hpa-values.yaml'), ...CRD]);
    expect(find(hpa, 'PrometheusRule', F).metadata.labels?.release).toBe('kube-prometheus-stack');
  });

  it('carries the release labels plus metrics.prometheusRule.labels, and the rule groups of the file unchanged', () => {
    const objs = render([...CRD, ...set({ 'metrics.prometheusRule.enabled': true, 'metrics.prometheusRule.labels.release': 'kps' })]);
    const rule = find(objs, 'PrometheusRule', F);
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.namespace).toBe(NAMESPACE);
    expect(rule.metadata.labels).toMatchObject({ release: 'kps', 'app.kubernetes.io/instance': F });
    expect(rule.spec).toEqual({ groups: fileGroups() });
    // Helm did not expand the alert templates: Prometheus gets them.
    expect(JSON.stringify(rule.spec)).toContain('{{ $labels.namespace }}');
  });

  it('defines the documented alerts, each with a severity, a summary and a description', () => {
    const rules = fileGroups().flatMap((g) => g.rules);
    expect(Object.fromEntries(rules.map((r) => [r.alert, r.labels.severity]))).toEqual({
      PubsubBufferFilling: 'warning',
      PubsubBufferFull: 'critical',
      PubsubOldestUnstoredEvent: 'warning',
      PubsubDeadLettersGrowing: 'warning',
      PubsubDeadLetterFilling: 'warning',
      PubsubIngestRefusing: 'warning',
      PubsubPostgresUnreachable: 'critical',
      PubsubConsumerAbsent: 'critical',
      PubsubRetentionBehind: 'warning',
      PubsubDedupIndexOutgrowingMemory: 'warning',
      PubsubBackupStale: 'warning',
      PubsubBackupVolumeFilling: 'warning',
      PubsubDatabaseBehindStream: 'critical',
    });
    for (const r of rules) {
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
    }
    // The thresholds values.yaml documents.
    const values = readFileSync(path.join(CHART, 'values.yaml'), 'utf8');
    for (const r of rules) expect(values, r.alert).toContain(r.alert);
  });

  it.skipIf(!tool('promtool'))('the rendered groups pass the promtool unit tests too', () => {
    const objs = render([...CRD, ...set({ 'metrics.prometheusRule.enabled': true })]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'prometheus-rule-'));
    try {
      // The same relative layout as the repository, so the test file's rule_files path resolves.
      const rulesFile = path.join(dir, 'charts/pubsub-aggregator/files/prometheus-rules.yaml');
      mkdirSync(path.dirname(rulesFile), { recursive: true });
      mkdirSync(path.join(dir, 'test/alerts'), { recursive: true });
      writeFileSync(rulesFile, stringify(find(objs, 'PrometheusRule', F).spec));
      const testFile = path.join(dir, 'test/alerts/prometheus-rules.test.yaml');
      writeFileSync(testFile, readFileSync(path.join(ROOT, 'test/alerts/prometheus-rules.test.yaml')));
      const r = spawnSync(tool('promtool')!, ['test', 'rules', testFile], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metric names', () => {
  // Metric names the apps register (shared/metrics.ts); histograms add _bucket, _count, _sum.
  const exported = new Set([...readFileSync(path.join(ROOT, 'shared/metrics.ts'), 'utf8').matchAll(/name: '([a-z_]+)'/g)].map((m) => m[1]));
  /** Metric names in a PromQL expression: label matchers, ranges and groupings removed, functions skipped. */
  const used = (expr: string) =>
    (
      expr
        .replace(/\{[^}]*\}/g, '')
        .replace(/\[[^\]]*\]/g, '')
        .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '')
        .match(/\b[a-z_][a-z0-9_]*\b(?!\s*\()/g) ?? []
    )
      .filter((n) => !['and', 'or', 'unless', 'bool', 'offset'].includes(n))
      .map((n) => (exported.has(n) ? n : n.replace(/_(bucket|count|sum)$/, '')));

  // The backup alerts read what only Kubernetes knows: kube-state-metrics' CronJob series and the
  // kubelet's volume statistics, both standard in a Prometheus on Kubernetes (kube-prometheus-stack).
  const kubernetes = new Set([
    'kube_cronjob_status_last_successful_time',
    'kube_cronjob_created',
    'kubelet_volume_stats_used_bytes',
    'kubelet_volume_stats_capacity_bytes',
  ]);

  it('every series the alert rules read is one the apps export, or a standard Kubernetes one', () => {
    const names = fileGroups().flatMap((g) => g.rules.flatMap((r) => used(r.expr)));
    expect(names.length).toBeGreaterThanOrEqual(8);
    for (const n of names.filter((x) => !kubernetes.has(x))) expect(exported, n).toContain(n);
    for (const n of kubernetes) expect(names, n).toContain(n);
  });

  it('every series the dashboard reads is one the apps export; the buffer, dead letters and 503s have panels', () => {
    const dash = JSON.parse(readFileSync(path.join(CHART, 'files/dashboard.json'), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    for (const n of exprs.flatMap(used)) expect(exported, n).toContain(n);
    const all = exprs.join('\n');
    for (const metric of [
      'jetstream_buffer_bytes',
      'jetstream_buffer_max_bytes',
      'jetstream_buffer_oldest_age_seconds',
      'jetstream_dead_letter_messages',
      'jetstream_dead_letter_bytes',
      'jetstream_dead_letter_max_bytes',
    ])
      expect(all, metric).toContain(metric);
    expect(all).toMatch(/sum by \(reason\) \(rate\(ingest_unavailable_responses_total/);
    // Panels do not overlap.
    const cells = new Set<string>();
    for (const p of dash.panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${x},${y}`);
        }
    expect(new Set(dash.panels.map((p: any) => p.id)).size).toBe(dash.panels.length);
  });
});
