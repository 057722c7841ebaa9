// Spread of the built-in NATS servers over nodes (nats.spread): the constraint the scheduler gets, and
// the combinations the chart refuses before Kubernetes would.
import { describe, expect, it } from 'vitest';
import { find, podOf, render, set, tryRender } from './helm.ts';

const F = 'pubsub-aggregator';
const spreadOf = (args: string[]) => podOf(find(render(args), 'StatefulSet', `${F}-nats`)).spec.topologySpreadConstraints;

describe('nats.spread', () => {
  it('by default prefers separate nodes but still schedules on a shared one (a 1-node lab cluster)', () => {
    const [c, ...rest] = spreadOf(set({ 'nats.replicas': 3 }));
    expect(rest).toHaveLength(0);
    expect(c).toEqual({
      maxSkew: 1,
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: {
        matchLabels: { 'app.kubernetes.io/name': F, 'app.kubernetes.io/instance': F, 'app.kubernetes.io/component': 'nats' },
      },
    });
  });

  it('DoNotSchedule with minDomains 3: 3 servers never share a node, even on 2 nodes', () => {
    const [c] = spreadOf(set({ 'nats.replicas': 3, 'nats.spread.whenUnsatisfiable': 'DoNotSchedule', 'nats.spread.minDomains': 3 }));
    expect(c.whenUnsatisfiable).toBe('DoNotSchedule');
    expect(c.minDomains).toBe(3);
  });

  it('refuses minDomains without DoNotSchedule, and values outside the bounds', () => {
    const r = tryRender(set({ 'nats.spread.minDomains': 3 }));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('nats.spread.minDomains needs nats.spread.whenUnsatisfiable=DoNotSchedule');
    expect(tryRender(set({ 'nats.spread.whenUnsatisfiable': 'DoNotSchedule', 'nats.spread.minDomains': 0 })).stderr).toMatch(
      /\/nats\/spread\/minDomains/,
    );
    expect(tryRender(set({ 'nats.spread.whenUnsatisfiable': 'Never' })).stderr).toMatch(/\/nats\/spread\/whenUnsatisfiable/);
  });
});
