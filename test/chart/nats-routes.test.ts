// The built-in NATS cluster's route credentials (nats.auth.routeAuth, templates/_nats.tpl) on 3 real
// nats-server processes running the rendered nats.conf and StatefulSet environment: the mesh forms
// with them, a server without the password is refused, and what a rolling update (highest ordinal
// first, the next server once the previous is Ready) does to the routes and to JetStream's quorum
// when the credentials are added to a running cluster or their password changes. Each rollout
// prints what it measured; docs/kubernetes.md ("NATS route credentials") reports it.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { pollUntil } from '../../load/poll.ts';
import { allocatePorts, metaLeaderOf, resolveEnv, routesOf, server, type Server } from './chart-nats-cluster.ts';
import { find, podOf, render, set, type K8sObject } from './helm.ts';

const F = 'pubsub-aggregator';
const PW = { ingest: 'ingest-pw-0123456789', consumer: 'consumer-pw-0123456789', admin: 'admin-pw-0123456789' };
const ROUTE_A = 'route-pw-A-0123456789';
const ROUTE_B = 'route-pw-B-0123456789';

function chart(routeAuth: boolean, routePassword = ROUTE_A): K8sObject[] {
  return render(
    set({
      'nats.replicas': 3,
      'nats.auth.passwords.ingest': PW.ingest,
      'nats.auth.passwords.consumer': PW.consumer,
      'nats.auth.passwords.admin': PW.admin,
      'nats.auth.passwords.route': routePassword,
      'nats.auth.routeAuth': routeAuth,
    }),
  );
}
const NAMES = [0, 1, 2].map((i) => `${F}-nats-${i}`);

let dirs: string[] = [];
let live: Server[] = [];
let conns: NatsConnection[] = [];
afterEach(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await Promise.all(live.map((s) => s.stop()));
  for (const d of dirs) removeDir(d);
  [dirs, live, conns] = [[], [], []];
});

/** 3 servers started together (podManagementPolicy Parallel), once all have a full mesh and a meta leader. */
async function cluster(objs: K8sObject[]): Promise<Server[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-nats-routes-'));
  dirs.push(dir);
  const ports = await allocatePorts(3);
  const servers = [0, 1, 2].map((i) => server(i, ports, dir));
  live.push(...servers);
  await Promise.all(servers.map((s) => s.start(objs)));
  await pollUntil(() => meshed(servers), Boolean, { what: 'full mesh', timeoutMs: 30_000 });
  await pollUntil(() => metaLeaderOf(servers[0]!), Boolean, { what: 'meta leader', timeoutMs: 60_000 });
  return servers;
}

/** Whether every running server has a route to every other running one. */
async function meshed(servers: Server[]): Promise<boolean> {
  const up = servers.filter((s) => s.running());
  for (const s of up) {
    const r = await routesOf(s);
    if (!up.every((o) => o === s || r.has(NAMES[o.ordinal]!))) return false;
  }
  return true;
}

interface Measured {
  /** Longest time two running servers had no route between them. */
  maxPairDisconnectedMs: number;
  /** Total time some running server saw no JetStream meta leader (no quorum). */
  noMetaLeaderMs: number;
  published: number;
  failed: number;
  /** Why publishes failed, with counts. */
  errors: Record<string, number>;
  /** Longest time without a successful publish acknowledgement (stored on a quorum), the end included. */
  longestAckGapMs: number;
  inStream: number;
}

/**
 * Restarts the servers one at a time as a StatefulSet rolling update does (2, 1, 0, each once the
 * previous is Ready) with another render, while a publisher writes to a 3-replica stream every
 * 100 ms and a sampler reads /routez and /jsz of every running server every 200 ms.
 */
async function rollout(servers: Server[], next: K8sObject[], onReady?: (s: Server) => Promise<void>): Promise<Measured> {
  const nc = await connect({
    servers: servers.map((s) => `nats://127.0.0.1:${s.ports.client}`),
    user: 'admin',
    pass: PW.admin,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  conns.push(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ROLL', subjects: ['roll.>'], num_replicas: 3 });
  const js = jetstream(nc);
  let stop = false;
  const m: Measured = { maxPairDisconnectedMs: 0, noMetaLeaderMs: 0, published: 0, failed: 0, errors: {}, longestAckGapMs: 0, inStream: 0 };

  const publisher = (async () => {
    let lastAck = Date.now();
    while (!stop) {
      const t = Date.now();
      try {
        await js.publish('roll.x', 'x', { timeout: 2_000 });
        m.published++;
        m.longestAckGapMs = Math.max(m.longestAckGapMs, Date.now() - lastAck);
        lastAck = Date.now();
      } catch (err) {
        m.failed++;
        const why = (err as Error).message.slice(0, 60);
        m.errors[why] = (m.errors[why] ?? 0) + 1;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t))));
    }
    m.longestAckGapMs = Math.max(m.longestAckGapMs, Date.now() - lastAck);
  })();
  const sampler = (async () => {
    const since = new Map<string, number>();
    let prev = Date.now();
    while (!stop) {
      const now = Date.now();
      const up = servers.filter((s) => s.running());
      const routes = new Map<number, Set<string>>();
      let noLeader = false;
      for (const s of up) {
        try {
          routes.set(s.ordinal, await routesOf(s));
          if (!(await metaLeaderOf(s))) noLeader = true;
        } catch {
          // Stopping or not listening yet: not "running" for this sample.
        }
      }
      if (noLeader) m.noMetaLeaderMs += now - prev;
      prev = now;
      for (const a of up)
        for (const b of up) {
          if (a.ordinal >= b.ordinal || !routes.has(a.ordinal) || !routes.has(b.ordinal)) continue;
          const key = `${a.ordinal}-${b.ordinal}`;
          const ok = routes.get(a.ordinal)!.has(NAMES[b.ordinal]!) || routes.get(b.ordinal)!.has(NAMES[a.ordinal]!);
          if (ok) since.delete(key);
          else {
            if (!since.has(key)) since.set(key, now);
            m.maxPairDisconnectedMs = Math.max(m.maxPairDisconnectedMs, now - since.get(key)!);
          }
        }
      // A pair with one side down starts afresh when it is back.
      for (const key of since.keys()) if (!key.split('-').every((o) => servers[Number(o)]!.running())) since.delete(key);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  await new Promise((r) => setTimeout(r, 1_000));
  for (const s of [...servers].reverse()) {
    await s.stop();
    await s.start(next);
    await onReady?.(s);
  }
  await new Promise((r) => setTimeout(r, 3_000));
  stop = true;
  await Promise.all([publisher, sampler]);
  m.inStream = (
    await pollUntil(
      () => jsm.streams.info('ROLL'),
      (i) => i.state.messages >= m.published,
      { what: 'stream state', timeoutMs: 30_000 },
    )
  ).state.messages;
  return m;
}

const report = (what: string, m: Measured) =>
  console.log(
    `${what}: longest route gap between two running servers ${m.maxPairDisconnectedMs} ms; no meta leader ${m.noMetaLeaderMs} ms; ` +
      `publishes ${m.published} acked, ${m.failed} failed ${JSON.stringify(m.errors)}; longest time without an ack ${m.longestAckGapMs} ms; ${m.inStream} in the stream`,
  );

describe('NATS route credentials (3 real servers, the rendered config)', () => {
  it('render: the password reaches the routes through the environment only', () => {
    const objs = chart(true);
    const conf = find(objs, 'ConfigMap', `${F}-nats-config`).data!['nats.conf']!;
    expect(conf).not.toContain(ROUTE_A);
    expect(conf).toMatch(/authorization \{\s*user: route\s*password: \$NATS_ROUTE_PASSWORD\s*\}/);
    expect(conf).toMatch(/routes: \[\s*\$NATS_ROUTE_0\s*\$NATS_ROUTE_1\s*\$NATS_ROUTE_2\s*\]/);
    const sts = find(objs, 'StatefulSet', `${F}-nats`);
    const c = podOf(sts).spec.containers[0];
    expect(JSON.stringify(c)).not.toContain(ROUTE_A);
    const env = resolveEnv(objs, c, NAMES[1]!);
    expect(env.NATS_ROUTE_0).toBe(`nats://route:${ROUTE_A}@${F}-nats-0.${F}-nats-headless.pubsub.svc:6222`);
    expect(env.NATS_ROUTE_2).toBe(`nats://route:${ROUTE_A}@${F}-nats-2.${F}-nats-headless.pubsub.svc:6222`);
    // Kubernetes expands $(VAR) only from entries defined earlier in the list.
    const names = c.env.map((e: any) => e.name);
    expect(names.indexOf('NATS_ROUTE_PASSWORD')).toBeLessThan(names.indexOf('NATS_ROUTE_0'));
    expect(Buffer.from(find(objs, 'Secret', `${F}-nats-users`).data!['route-password']!, 'base64').toString()).toBe(ROUTE_A);
  });

  it('the mesh forms with credentials; a server with a wrong route password is refused and rejoins with the right one', async () => {
    const servers = await cluster(chart(true));
    for (const s of servers) expect([...(await routesOf(s))].sort(), NAMES[s.ordinal]).toEqual(NAMES.filter((_, i) => i !== s.ordinal));

    const intruder = servers[2]!;
    await intruder.stop();
    const before = readFileSync(intruder.log, 'utf8').length;
    await intruder.start(chart(true, ROUTE_B), { wait: false });
    await pollUntil(
      async () => readFileSync(intruder.log, 'utf8').slice(before),
      (l) => l.includes('Authentication Failure'),
      {
        what: 'Authentication Failure in the log of the server with the wrong password',
        timeoutMs: 15_000,
      },
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await routesOf(intruder)).size).toBe(0);
    for (const s of servers.slice(0, 2)) expect(await routesOf(s)).not.toContain(NAMES[2]);

    await intruder.stop();
    await intruder.start(chart(true));
    await pollUntil(() => meshed(servers), Boolean, { what: 'mesh with the right password', timeoutMs: 30_000 });
  });

  it('baseline: a rolling restart without a change', async () => {
    const servers = await cluster(chart(true));
    const m = await rollout(servers, chart(true), async () => {
      await pollUntil(() => meshed(servers), Boolean, { what: 'mesh after the restart', timeoutMs: 15_000 });
    });
    report('rolling restart, no change', m);
    expect(m.maxPairDisconnectedMs).toBeLessThan(5_000);
    expect(m.inStream).toBeGreaterThanOrEqual(m.published);
  });

  it('adding credentials to a running cluster in one rolling update keeps the mesh and the quorum', async () => {
    const servers = await cluster(chart(false));
    const m = await rollout(servers, chart(true), async () => {
      await pollUntil(() => meshed(servers), Boolean, { what: 'mesh after the restart', timeoutMs: 15_000 });
    });
    report('routeAuth false -> true', m);
    expect(await meshed(servers)).toBe(true);
    expect(m.inStream).toBeGreaterThanOrEqual(m.published);
    // No server ever stayed cut off: a gap is only the moment a restarted server takes to connect.
    expect(m.maxPairDisconnectedMs).toBeLessThan(5_000);
  });

  it('changing the route password in one rolling update: the first restarted server never becomes healthy, the rollout stalls', async () => {
    const servers = await cluster(chart(true, ROUTE_A));
    const [s0, s1, s2] = servers as [Server, Server, Server];
    await s2.stop();
    await s2.start(chart(true, ROUTE_B), { wait: false });
    // Its startup probe (/healthz) keeps failing: it cannot reach the meta leader. A StatefulSet
    // waits for it before restarting the next server, so the rollout stops here.
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      expect(await s2.healthy()).toBe(false);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect((await routesOf(s2)).size).toBe(0);
    // The other two keep the quorum: no outage, but no spare either.
    expect(await metaLeaderOf(s0)).not.toBe('');
    expect(await routesOf(s0)).toContain(NAMES[1]);

    // Forcing it through (deleting the other pods) loses the quorum while the second server is down:
    // the old-password one and the new-password one cannot form a majority with each other.
    await s1.stop();
    const down = Date.now();
    await pollUntil(
      () => metaLeaderOf(s0),
      (l) => l === '',
      { what: 'nats-0 losing the meta leader', timeoutMs: 30_000 },
    );
    const lost = Date.now() - down;
    await s1.start(chart(true, ROUTE_B));
    const back = await pollUntil(() => metaLeaderOf(s1), Boolean, { what: 'meta leader of nats-1 and nats-2', timeoutMs: 30_000 });
    console.log(
      `route password A -> B in one step, forced past the stalled server: nats-0 lost the meta leader ${lost} ms after nats-1 went down, ` +
        `leader back (${back}) ${Date.now() - down} ms after it went down, once nats-1 ran the new password`,
    );
    await s0.stop();
    await s0.start(chart(true, ROUTE_B));
    await pollUntil(() => meshed(servers), Boolean, { what: 'mesh after the last restart', timeoutMs: 30_000 });
  });

  it('changing the route password in two rolling updates (credentials off, then the new password) keeps the mesh', async () => {
    const servers = await cluster(chart(true, ROUTE_A));
    const meshAfterEach = async () => {
      await pollUntil(() => meshed(servers), Boolean, { what: 'mesh after the restart', timeoutMs: 15_000 });
    };
    const off = await rollout(servers, chart(false), meshAfterEach);
    report('route password A -> off (step 1)', off);
    await conns.pop()!.close();
    const on = await rollout(servers, chart(true, ROUTE_B), meshAfterEach);
    report('route password off -> B (step 2)', on);
    for (const m of [off, on]) {
      expect(m.maxPairDisconnectedMs).toBeLessThan(5_000);
      expect(m.inStream).toBeGreaterThanOrEqual(m.published);
    }
  });
});
