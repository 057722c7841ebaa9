// The NATS users and permissions the chart renders (templates/_nats.tpl), on a real nats-server with
// the real ingest, consumer and dead-letters tool: each can do everything it does, and nothing the
// other roles or an outsider should. A permission the apps lack shows up as a "Permissions Violation" in their logs or a
// pipeline that never settles; one they should not have shows up in the refusals below.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendEvents, waitForStats } from '../../load/client.ts';
import { generateWorkload } from '../../load/workload.ts';
import { startApp, type AppProcess } from '../../scripts/lib/apps.ts';
import { startNats, type NatsServer } from '../../scripts/lib/nats-server.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';
import { removeDir } from '../../scripts/lib/temp-dir.ts';
import { DEAD_LETTERS_INBOX_PREFIX } from '../../apps/dead-letters/cli.ts';
import { CONSUMER_INBOX_PREFIX } from '../../shared/nats/topology.ts';
import { envOf, find, podOf, render, set } from './helm.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const F = 'pubsub-aggregator';
const PASSWORDS = {
  ingest: 'ingest-pw-0123456789',
  consumer: 'consumer-pw-0123456789',
  admin: 'admin-pw-0123456789',
  deadLetters: 'dead-letters-pw-0123456789',
};

const rendered = render(
  set({
    'nats.auth.passwords.ingest': PASSWORDS.ingest,
    'nats.auth.passwords.consumer': PASSWORDS.consumer,
    'nats.auth.passwords.admin': PASSWORDS.admin,
    'nats.auth.passwords.deadLetters': PASSWORDS.deadLetters,
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
      .replace('$NATS_DEAD_LETTERS_PASSWORD', PASSWORDS.deadLetters)
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
  it('the dead-letters user lists, replays and purges dead letters with the tool (run as the image runs it)', async () => {
    const ingest = apps[1]!.url;
    const before = await waitForStats(ingest, (x) => x.queue_depth === 0, 30_000);
    // A decodable dead letter, as the consumer would have left it after PostgreSQL refused it.
    const h = headers();
    h.set('Dlq-Reason', 'database refused it: a test');
    h.set('Dlq-Deliveries', '10');
    const event = { topic: 'auth.replay', event_id: 'r-1', timestamp: '2026-12-07T10:00:00Z', received_at: new Date().toISOString() };
    await jetstream(admin).publish('dlq.EVENTS.auth.replay', JSON.stringify(event), { headers: h });
    const passwordFile = path.join(dir, 'dead-letters-password');
    writeFileSync(passwordFile, `${PASSWORDS.deadLetters}\n`);
    const tool = (...args: string[]) =>
      promisify(execFile)(process.execPath, [path.join(ROOT, 'dist/apps/main.js'), 'dead-letters', ...args], {
        env: { PATH: process.env.PATH, NATS_URL: nats.url, NATS_USER: 'dead-letters', NATS_PASSWORD_FILE: passwordFile },
        timeout: 30_000,
      });
    const listed = JSON.parse((await tool('list', '--json')).stdout) as { held: number; items: Array<{ topic: string }> };
    expect(listed.held).toBe(2);
    expect(listed.items.map((d) => d.topic).sort()).toEqual(['auth.replay', 'poison']);
    expect((await tool('replay', '--topic', 'auth.replay')).stdout).toMatch(/replayed 1, skipped 0/);
    const s = await waitForStats(ingest, (x) => x.unique_processed === before.unique_processed + 1 && x.queue_depth === 0, 30_000);
    expect(s.dead_letters_held).toBe(1);
    expect((await tool('purge', '--topic', 'poison')).stdout).toMatch(/purged 1/);
    expect((await waitForStats(ingest, (x) => x.dead_letters_held === 0, 10_000)).dead_letters_held).toBe(0);
  });

  it('the dead-letters user can touch nothing but the dead-letter stream, and read only its own replies', async () => {
    const nc = await connect({
      servers: nats.url,
      user: 'dead-letters',
      pass: PASSWORDS.deadLetters,
      inboxPrefix: DEAD_LETTERS_INBOX_PREFIX,
    });
    const errors: string[] = [];
    void (async () => {
      for await (const st of nc.status()) if (st.type === 'error') errors.push(st.error.message);
    })();
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await expect(jsm.streams.delete('EVENTS_DLQ')).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.purge('EVENTS')).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.getMessage('EVENTS', { seq: 1 })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.deleteMessage('EVENTS_COUNTERS', 1)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.consumers.add('EVENTS_DLQ', { durable_name: 'x' })).rejects.toThrow(/Permissions Violation/);
      nc.publish('dlq.EVENTS.fake', 'x');
      nc.publish('counters.EVENTS.broker_duplicates_total', '1');
      nc.subscribe('_INBOX_consumer.>');
      nc.subscribe('_INBOX.>');
      await nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      const all = errors.join('\n');
      expect(all).toMatch(/Permissions Violation for Publish to "dlq\.EVENTS\.fake"/);
      expect(all).toMatch(/Permissions Violation for Publish to "counters\.EVENTS\.broker_duplicates_total"/);
      expect(all).toMatch(/Permissions Violation for Subscription to "_INBOX_consumer\.>"/);
      expect(all).toMatch(/Permissions Violation for Subscription to "_INBOX\.>"/);
    } finally {
      await nc.close();
    }
  });
});
