// The dead-letters tool (`main.js dead-letters`, as the image runs it) against a real stack: an event
// PostgreSQL refuses (a trigger on its event_id) is dead-lettered, listed, shown, replayed before
// the fix (dead-lettered again), replayed after it (stored once), replayed again (a duplicate, still
// stored once) and purged; /stats stays exact at every step.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { headers } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterList } from '../../apps/dead-letters/cli.ts';
import { waitForStats } from '../../load/client.ts';
import type { StatsReply } from '../../shared/stats-reply.ts';
import { postJson, startTestStack, type TestStack } from './support.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

let stack: TestStack;
let ingest: string;
let db: pg.Client;
let nc: NatsConnection;

/** One command of the tool, run as the image runs it; never throws on a non-zero exit. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, 'dist/apps/main.js'), 'dead-letters', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NATS_URL: stack.nats.url },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The README's invariant: every event that reached JetStream is stored, a duplicate, queued, or was dead-lettered. */
function expectInvariant(s: StatsReply) {
  expect(s.received).toBe(s.unique_processed + s.duplicate_dropped + s.queue_depth + s.dead_lettered);
}

const settled = (pred: (s: StatsReply) => boolean) =>
  waitForStats(ingest, (s) => s.queue_depth === 0 && pred(s), 60_000).then((s) => {
    expectInvariant(s);
    return s;
  });

const list = async (...args: string[]) => {
  const r = await cli('list', '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as DeadLetterList;
};

const EVENTS = Array.from({ length: 20 }, (_, i) => ({
  topic: 'orders',
  event_id: i === 7 ? 'poison-1' : `order-${i}`,
  timestamp: '2026-12-07T10:00:00Z',
}));

beforeAll(async () => {
  // 3 deliveries, 0.1 s apart: dead-lettered within a second instead of the defaults' minute.
  stack = await startTestStack({ CONSUMER_MAX_DELIVER: '3', CONSUMER_RETRY_DELAY_MS: '100', CONSUMER_RETRY_DELAY_MAX_MS: '200' });
  db = new pg.Client({ connectionString: stack.pg.url });
  await db.connect();
  // The fixable failure: PostgreSQL refuses one event_id until the trigger is dropped.
  await db.query(`
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event_id = 'poison-1' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION refuse_poison();
  `);
  await stack.start('consumer');
  ingest = (await stack.start('ingest')).url;
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  await nc?.close();
  await db?.end();
  await stack?.stop();
});

describe('dead letters: list, show, replay, purge', () => {
  let poisonSeq: number;
  let junkSeq: number;

  it('an event PostgreSQL refuses, and a message that does not decode, are dead-lettered; /stats says so', async () => {
    expect((await postJson(`${ingest}/publish`, EVENTS)).status).toBe(202);
    // Published past ingest with broker instructions in its headers: the dead-letter copy must not
    // carry them (a Nats-Expected-Stream of EVENTS would make the dead-letter stream refuse it for good).
    const h = headers();
    h.set('Nats-Expected-Stream', 'EVENTS');
    h.set('Trace-Id', 'kept');
    await jetstream(nc).publish('events.junk', 'not json', { headers: h, msgID: 'junk-1' });
    const s = await settled((x) => x.dead_lettered === 2);
    expect(s).toMatchObject({ received: 21, unique_processed: 19, database_rows: 19, dead_lettered: 2, dead_letters_held: 2 });
    const junk = await (await jetstreamManager(nc)).streams.getMessage('EVENTS_DLQ', { last_by_subj: 'dlq.EVENTS.junk' });
    expect(junk!.header.get('Trace-Id')).toBe('kept');
    expect(junk!.header.get('Nats-Expected-Stream')).toBe('');
  });

  it('list shows reason, deliveries, topic, event_id, original sequence and time; show shows one with its event', async () => {
    const l = await list();
    expect(l).toMatchObject({ held: 2, dead_lettered: 2, next: null });
    const poison = l.items.find((d) => d.event_id === 'poison-1')!;
    const junk = l.items.find((d) => d.topic === 'junk')!;
    expect(poison).toMatchObject({ topic: 'orders', deliveries: 3, reason: expect.stringMatching(/refused by the test/) });
    expect(poison.stream_seq).toBeGreaterThanOrEqual(1);
    expect(poison.stream_seq).toBeLessThanOrEqual(21);
    expect(Math.abs(Date.parse(poison.time) - Date.now())).toBeLessThan(120_000);
    expect(junk).toMatchObject({ event_id: null, deliveries: 1, reason: expect.stringMatching(/not JSON/) });
    poisonSeq = poison.seq;
    junkSeq = junk.seq;
    // Paging and the topic filter.
    expect((await list('--limit', '1')).items).toHaveLength(1);
    expect((await list('--limit', '1')).next).toBe(Math.max(poisonSeq, junkSeq));
    expect((await list('--topic', 'junk')).items.map((d) => d.seq)).toEqual([junkSeq]);
    // The human form: a header and one line per dead letter.
    const human = await cli('list');
    expect(human.stdout).toMatch(/EVENTS_DLQ: 2 held/);
    expect(human.stdout).toMatch(new RegExp(`^${poisonSeq}\\t\\S+\\torders\\tpoison-1\\t\\d+\\t3\\t.*refused by the test`, 'm'));

    const shown = await cli('show', String(poisonSeq), '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(JSON.parse(shown.stdout).data)).toMatchObject({ topic: 'orders', event_id: 'poison-1' });
    const missing = await cli('show', '999999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no dead letter with seq 999999/);
  });

  it('bad usage exits 2 naming what is wrong', async () => {
    const none = await cli('replay');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/exactly one of --seq SEQ, --topic T, --all/);
    expect((await cli('purge', '--seq', '0')).stderr).toMatch(/--seq must be a positive integer/);
    expect((await cli('frobnicate')).code).toBe(2);
  });

  it('a message that does not decode is not replayed (it would come straight back): exit 1, kept', async () => {
    const r = await cli('replay', '--seq', String(junkSeq));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/skipped seq \d+: does not decode/);
    expect((await list()).held).toBe(2);
  });

  it('replayed before the fix: published again through the event stream and dead-lettered again; counts exact', async () => {
    const r = await cli('replay', '--seq', String(poisonSeq));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/replayed 1, skipped 0/);
    // A new event-stream message (received + 1), refused again, dead-lettered again under a new sequence.
    const s = await settled((x) => x.dead_lettered === 3);
    expect(s).toMatchObject({ received: 22, unique_processed: 19, dead_lettered: 3, dead_letters_held: 2 });
    const l = await list('--topic', 'orders');
    expect(l.items).toHaveLength(1);
    expect(l.items[0]!.event_id).toBe('poison-1');
    expect(l.items[0]!.seq).toBeGreaterThan(poisonSeq);
    expect((await cli('show', String(poisonSeq))).code).toBe(1);
    poisonSeq = l.items[0]!.seq;
  });

  it('replayed after the fix: stored once; replayed again: a duplicate, still stored once', async () => {
    await db.query('DROP TRIGGER refuse_poison ON processed_events');
    // --keep leaves the dead letter in place, as an interruption between publish and delete would.
    const kept = await cli('replay', '--topic', 'orders', '--keep');
    expect(kept.code, kept.stderr).toBe(0);
    let s = await settled((x) => x.unique_processed === 20);
    expect(s).toMatchObject({
      received: 23,
      unique_processed: 20,
      database_rows: 20,
      duplicate_dropped: 0,
      dead_lettered: 3,
      dead_letters_held: 2,
    });

    const again = await cli('replay', '--topic', 'orders', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toEqual({ replayed: 1, skipped: 0 });
    s = await settled((x) => x.duplicate_dropped === 1);
    expect(s).toMatchObject({ received: 24, unique_processed: 20, database_rows: 20, dead_lettered: 3, dead_letters_held: 1 });
    expect(s.duplicates_by_layer).toEqual({ broker: 0, database: 1 });
    expect((await db.query("SELECT count(*)::int AS n FROM processed_events WHERE event_id = 'poison-1'")).rows[0].n).toBe(1);
  });

  it('purge deletes without replaying and says how many; dead_lettered stays cumulative', async () => {
    const missing = await cli('purge', '--seq', '999999');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/purged 0/);
    const r = await cli('purge', '--all');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^purged 1 \(all\)$/m);
    const s = await settled((x) => x.dead_letters_held === 0);
    expect(s).toMatchObject({ received: 24, unique_processed: 20, dead_lettered: 3, dead_letters_held: 0 });
    expect((await list()).items).toEqual([]);
  });
});
