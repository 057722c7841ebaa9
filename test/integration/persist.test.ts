// persistBatch against a real PostgreSQL: the database half of the exactly-once argument.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { persistBatch } from '../../apps/consumer/persist.ts';
import type { Delivery } from '../../shared/decode.ts';
import { createPrisma, type Db } from '../../shared/db/prisma.ts';
import { migrate, startPostgres, type Postgres } from '../../scripts/lib/postgres.ts';

let pg: Postgres;
let db: Db;
beforeAll(async () => {
  pg = await startPostgres();
  migrate(pg.url);
  db = createPrisma(pg.url, 8);
});
afterAll(async () => {
  await db?.$disconnect();
  await pg?.remove();
});

let seq = 0;
const d = (topic: string, id: string, at = ++seq): Delivery => {
  const event = { topic, event_id: id, timestamp: '2026-11-26T10:00:00Z', payload: { id } };
  const receivedAt = new Date();
  return { seq: at, event, receivedAt, json: JSON.stringify({ ...event, received_at: receivedAt.toISOString() }) };
};
const counters = async () =>
  Object.fromEntries((await db.topicCounter.findMany()).map((c) => [c.topic, [Number(c.uniqueProcessed), Number(c.duplicatesDropped)]]));

describe('persistBatch', () => {
  it('inserts new events, records in-batch and stored duplicates, and counts per topic', async () => {
    const first = [d('p.a', '1'), d('p.a', '2'), d('p.b', '1')];
    expect((await persistBatch(db, first)).inserted).toHaveLength(3);
    const second = [d('p.a', '1'), d('p.a', '3'), d('p.a', '3')];
    const out = await persistBatch(db, second);
    expect(out.inserted.map((x) => x.event.event_id)).toEqual(['3']);
    expect(out.duplicates).toBe(2);
    expect(await counters()).toMatchObject({ 'p.a': [3, 2], 'p.b': [1, 0] });
  });

  it('counts nothing twice when a committed batch is redelivered (ack lost in a crash)', async () => {
    const batch = [d('r.a', '1'), d('r.a', '1'), d('r.b', '1')];
    await persistBatch(db, batch);
    const before = await counters();
    const again = await persistBatch(db, batch);
    expect(again).toMatchObject({ inserted: [], duplicates: 0, redeliveries: 2 });
    expect(await counters()).toEqual(before);
    expect(await db.processedEvent.count({ where: { topic: { in: ['r.a', 'r.b'] } } })).toBe(2);
  });

  it('lets concurrent overlapping batches commit without deadlock and without double counting', async () => {
    const events = Array.from({ length: 3_000 }, (_, i) => d(`c.t${(i % 1_500) % 7}`, String(i % 1_500)));
    // Four "consumer processes" get interleaved, overlapping slices, in different orders.
    const slices = [0, 1, 2, 3].map((k) => events.filter((_, i) => i % 4 === k).reverse());
    const results = await Promise.all(slices.map((s) => persistBatch(db, s)));
    const inserted = results.reduce((n, r) => n + r.inserted.length, 0);
    const dups = results.reduce((n, r) => n + r.duplicates, 0);
    expect(inserted).toBe(1_500);
    expect(dups).toBe(1_500);
    const c = await counters();
    const sum = Object.entries(c)
      .filter(([t]) => t.startsWith('c.'))
      .reduce((n, [, [u, x]]) => [n[0]! + u!, n[1]! + x!], [0, 0]);
    expect(sum).toEqual([1_500, 1_500]);
  });

  it('stores each RFC 3339 form of a timestamp as the instant ingest validated, and keeps source and payload', async () => {
    const forms = [
      '2026-11-26t10:00:00z',
      '2026-11-26 10:00:00Z',
      '2026-11-26T10:00:00+0530',
      '2026-11-26T10:00:00.123456-02:00',
      '2026-11-26T10:00:00.25Z',
    ];
    const batch = forms.map((timestamp, i) => {
      const delivery = d('ts.forms', String(i));
      const event = { ...delivery.event, timestamp, source: `src-${i}`, payload: i % 2 ? null : { nested: [i, 'x'] } };
      return { ...delivery, event, json: JSON.stringify({ ...event, received_at: delivery.receivedAt.toISOString() }) };
    });
    await persistBatch(db, batch);
    const rows = await db.processedEvent.findMany({ where: { topic: 'ts.forms' }, orderBy: { eventId: 'asc' } });
    expect(rows.map((r) => r.timestamp.toISOString())).toEqual(forms.map((f) => new Date(f.replace(/^(\S+) /, '$1T')).toISOString()));
    expect(rows.map((r) => [r.source, r.payload])).toEqual(batch.map((b) => [b.event.source, b.event.payload ?? null]));
  });

  it('refuses, rather than passes as a redelivery, an event whose stream sequence another event holds (stream reset)', async () => {
    const old = d('reset', 'before', 900_001);
    await persistBatch(db, [old]);
    const before = await counters();
    // The stream was recreated and numbers again from where the old one had been: same seq, new event.
    await expect(persistBatch(db, [d('reset', 'after', 900_001)])).rejects.toThrow(/stream_seq|unique/i);
    expect(await counters()).toEqual(before);
    expect(await db.processedEvent.count({ where: { topic: 'reset' } })).toBe(1);
  });

  it('takes a batch whose rows would exceed 32,767 bind parameters as separate values (arrays bind once)', async () => {
    const big = Array.from({ length: 4_500 }, (_, i) => d('big', String(i)));
    expect((await persistBatch(db, big)).inserted).toHaveLength(4_500);
  });
});
