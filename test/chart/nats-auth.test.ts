// The NATS users and permissions the chart renders (templates/_nats.tpl), on a real nats-server with
// the real ingest and consumer: each app can do everything it does, and nothing the other role or an
// outsider should. A permission the apps lack shows up as a "Permissions Violation" in their logs or a
// pipeline that never settles; one they should not have shows up in the refusals below.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import { generateWorkload } from '../../load/workload.ts';
import { startApp, type AppProcess } from '../../scripts/lib/apps.ts';
import { startNats, type NatsServer } from '../../scripts/lib/nats-server.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { CONSUMER_INBOX_PREFIX } from '../../shared/nats/topology.ts';
import { envOf, find, podOf, render, set } from './helm.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const F = 'pubsub-aggregator';
const PASSWORDS = { ingest: 'ingest-pw-0123456789', consumer: 'consumer-pw-0123456789', admin: 'admin-pw-0123456789' };

const rendered = render(
  set({
    'nats.auth.passwords.ingest': PASSWORDS.ingest,
    'nats.auth.passwords.consumer': PASSWORDS.consumer,
    'nats.auth.passwords.admin': PASSWORDS.admin,
  }),
);

/**
 * The stream sizes as the chart derives them from the same nats.conf's max_file_store: nats-server
 * refuses to create a stream whose max_bytes it cannot reserve there, so the consumer starts only if
 * they fit.
 */
const sizes = () => envOf(podOf(find(rendered, 'Deployment', `${F}-consumer`)).spec.containers[0]);

/** nats.conf as the chart renders it, made runnable on loopback: ports, paths and the pod's env filled in. */
function renderedNatsConf(): string {
  return (
    find(rendered, 'ConfigMap', `${F}-nats-config`)
      .data!['nats.conf']! // Given on the command line by startNats instead (free ports, a temp store dir).
      .replace(/^(server_name|port|http_port|pid_file):.*$/gm, '')
      .replace(/^\s*store_dir:.*$/m, '')
      // The StatefulSet passes these from the Secret as environment variables.
      .replace('$NATS_INGEST_PASSWORD', PASSWORDS.ingest)
      .replace('$NATS_CONSUMER_PASSWORD', PASSWORDS.consumer)
      .replace('$NATS_ADMIN_PASSWORD', PASSWORDS.admin)
  );
}

let dir: string;
let nats: NatsServer;
let pg: Postgres;
let admin: NatsConnection;
const apps: AppProcess[] = [];
const logOf = (name: string) => path.join(dir, `${name}.log`);
const showLogs = () =>
  ['consumer', 'ingest']
    .map((n) => `--- ${n}\n${existsSync(logOf(n)) ? readFileSync(logOf(n), 'utf8').slice(-4000) : '(none)'}`)
    .join('\n');

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-nats-auth-'));
  [nats, pg] = await Promise.all([startNats({ dir, config: renderedNatsConf() }), startPostgres()]);
  migrate(pg.url, ROOT);
  const env = (role: 'ingest' | 'consumer') => ({
    STREAM_MAX_BYTES: sizes().STREAM_MAX_BYTES as string,
    DLQ_MAX_BYTES: sizes().DLQ_MAX_BYTES as string,
    NATS_URL: nats.url,
    NATS_USER: role,
    NATS_PASSWORD: PASSWORDS[role],
    DATABASE_URL: pg.url,
    LOG_LEVEL: 'info',
    PORT: '0',
  });
  // The consumer creates the topology as its own user; ingest only waits for it.
  try {
    apps.push(await startApp('consumer', env('consumer'), { runner: 'tsx', cwd: ROOT, log: { file: logOf('consumer') } }));
    apps.push(await startApp('ingest', env('ingest'), { runner: 'tsx', cwd: ROOT, log: { file: logOf('ingest') } }));
    // A second consumer finds the topology in place: it takes the update paths (streams and durable).
    apps.push(await startApp('consumer', env('consumer'), { runner: 'tsx', cwd: ROOT, log: { file: logOf('consumer') } }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${showLogs()}`, { cause: err });
  }
  admin = await connect({ servers: nats.url, user: 'admin', pass: PASSWORDS.admin });
}, 180_000);
afterAll(async () => {
  await admin?.close();
  await Promise.all(apps.map((a) => a.stop('SIGKILL')));
  await Promise.all([nats?.stop(), pg?.remove()]);
  if (dir) removeDir(dir);
});

describe('NATS users and permissions of the built-in NATS', () => {
  it('the pipeline works end to end with each app on its own user: exact counts, duplicates and dead letters included', async () => {
    const ingest = apps[1]!.url;
    const w = generateWorkload({ events: 2_000, duplicateRate: 0.3, seed: 71 });
    const sent = await sendEvents(w.events, { baseUrl: ingest, batchSize: 50, concurrency: 4 });
    expect(sent.failed, showLogs()).toBe(0);
    // Garbage published straight to the stream (by the admin): the consumer must dead-letter it.
    await jetstream(admin).publish('events.poison', 'not json');
    const s = await waitForStats(
      ingest,
      (x) => x.unique_processed >= w.unique && x.queue_depth === 0 && x.dead_lettered === 1,
      60_000,
    ).catch((err) => {
      throw new Error(`${err.message}\n${showLogs()}`);
    });
    expect(s.unique_processed).toBe(w.unique);
    expect(s.duplicate_dropped).toBe(w.duplicates);
    // Broker-caught duplicates went through ingest's counter subject and were read back by /stats.
    expect(s.duplicates_by_layer.broker).toBeGreaterThan(0);
    expect(readFileSync(logOf('ingest'), 'utf8') + readFileSync(logOf('consumer'), 'utf8')).not.toMatch(/Permissions Violation/i);
    // The streams got the chart's caps, reserved out of the rendered max_file_store.
    const jsm = await jetstreamManager(admin);
    expect((await jsm.streams.info('EVENTS')).config.max_bytes).toBe(Number(sizes().STREAM_MAX_BYTES));
    expect((await jsm.streams.info('EVENTS_DLQ')).config.max_bytes).toBe(Number(sizes().DLQ_MAX_BYTES));
  });

  it('nobody connects without a user, or with a wrong password', async () => {
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: nats.url, user: 'ingest', pass: 'guess', reconnect: false })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });

  for (const role of ['ingest', 'consumer'] as const) {
    it(`${role}'s user cannot delete or purge a stream, or delete the durable consumer`, async () => {
      // As the apps connect (the consumer's replies come to its own inbox prefix).
      const nc = await connect({
        servers: nats.url,
        user: role,
        pass: PASSWORDS[role],
        ...(role === 'consumer' ? { inboxPrefix: CONSUMER_INBOX_PREFIX } : {}),
      });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await expect(jsm.streams.delete('EVENTS')).rejects.toThrow(
          /Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.EVENTS"/,
        );
        await expect(jsm.streams.purge('EVENTS')).rejects.toThrow(
          /Permissions Violation for Publish to "\$JS\.API\.STREAM\.PURGE\.EVENTS"/,
        );
        await expect(jsm.consumers.delete('EVENTS', 'event-writer')).rejects.toThrow(/Permissions Violation/);
        await expect(jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] })).rejects.toThrow(/Permissions Violation/);
      } finally {
        await nc.close();
      }
      const jsmAdmin = await jetstreamManager(admin);
      // A work queue: the stored events have left the stream, so its message count proves nothing.
      // Its sequence does: a deleted stream would be gone, or recreated from 1.
      expect((await jsmAdmin.streams.info('EVENTS')).state.last_seq).toBeGreaterThan(0);
      expect((await jsmAdmin.consumers.info('EVENTS', 'event-writer')).name).toBe('event-writer');
      await expect(jsmAdmin.streams.info('OTHER')).rejects.toThrow(/not found/);
    });
  }

  it("ingest's user publishes only events and its counters; it cannot write to the dead-letter stream or read the consumer's replies", async () => {
    const nc = await connect({ servers: nats.url, user: 'ingest', pass: PASSWORDS.ingest });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error.message);
    })();
    try {
      const before = (await (await jetstreamManager(admin)).streams.info('EVENTS_DLQ')).state.messages;
      nc.publish('dlq.EVENTS.fake', 'x');
      nc.subscribe('_INBOX_consumer.>');
      await nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "dlq\.EVENTS\.fake"/);
      expect(errors.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX_consumer\.>"/);
      expect((await (await jetstreamManager(admin)).streams.info('EVENTS_DLQ')).state.messages).toBe(before);
    } finally {
      await nc.close();
    }
  });

  it("the consumer's user cannot publish events past ingest's validation", async () => {
    const nc = await connect({ servers: nats.url, user: 'consumer', pass: PASSWORDS.consumer });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error.message);
    })();
    try {
      nc.publish('events.injected', '{"topic":"injected"}');
      await nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "events\.injected"/);
    } finally {
      await nc.close();
    }
  });
});
