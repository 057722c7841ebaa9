import type { Db } from '../../shared/db/prisma.ts';

/**
 * One past the highest JetStream sequence the database has recorded (stored events and logged
 * duplicates). A stream created while the database already holds rows (NATS lost its storage,
 * or the stream was deleted by hand) must start here: the consumer recognises a redelivery by its
 * stream sequence, so a stream that counted from 1 again would collide with stored rows: every new
 * event would be refused and, after its deliveries, dead-lettered (measured: 863 of 1,400 within
 * 90 s, none stored; test/integration/faults.test.ts). The retention purge deletes rows, so the
 * highest sequence it deleted is kept apart (stream_high_water, raised in the deleting transaction):
 * with every row purged, a recreated stream still numbers past everything ever stored.
 */
export async function nextStreamSequence(db: Db): Promise<number> {
  const rows = await db.$queryRaw<Array<{ next: bigint }>>`
    SELECT GREATEST((SELECT max(stream_seq) FROM processed_events), (SELECT max(stream_seq) FROM duplicate_events),
                    (SELECT stream_seq FROM stream_high_water WHERE id), 0) + 1 AS next`;
  return Number(rows[0]!.next);
}
