import pg from 'pg';
import { expect } from 'vitest';
import { startLocalStack, type LocalStack } from '../../scripts/lib/stack.ts';
import type { Event } from '../../shared/event.ts';

export type TestStack = LocalStack;

/**
 * nats-servers the integration tests run against: 1, or a 3-node JetStream cluster with streams
 * replicated 3 times when TEST_NATS_NODES=3 (`npm run test:nats-cluster`).
 */
export const TEST_NATS_NODES = Number(process.env.TEST_NATS_NODES ?? 1);

/** A throwaway stack (scripts/lib/stack.ts) whose apps are SIGKILLed at the end: tests are quick. */
export const startTestStack = (env: Record<string, string> = {}, postgresSettings?: Record<string, string>): Promise<TestStack> =>
  startLocalStack(
    { SHUTDOWN_TIMEOUT_MS: '10000', ...env },
    { stopSignal: 'SIGKILL', natsNodes: TEST_NATS_NODES, postgresSettings, appLogs: 'files' },
  );

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
}

/**
 * Asserts what PostgreSQL holds, read from the table itself (`count(*)` and every row), never from
 * the counters /stats reads: exactly `expected`, one row each, with the fields as sent.
 */
export async function expectStoredExactly(stack: TestStack, expected: readonly Event[]): Promise<void> {
  const db = new pg.Client({ connectionString: stack.pg.url });
  await db.connect();
  try {
    const { rows: counted } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events');
    expect(counted[0]!.n).toBe(expected.length);
    const { rows } = await db.query<{ topic: string; event_id: string; timestamp: Date; source: string | null; payload: unknown }>(
      'SELECT topic, event_id, "timestamp", source, payload FROM processed_events',
    );
    const key = (e: Pick<Event, 'topic' | 'event_id'>) => JSON.stringify([e.topic, e.event_id]);
    const stored = new Map(rows.map((r) => [key(r), r]));
    expect(stored.size).toBe(rows.length);
    const missing: string[] = [];
    for (const e of expected) {
      const row = stored.get(key(e));
      if (!row) {
        missing.push(key(e));
        continue;
      }
      expect({ ...row, timestamp: row.timestamp.toISOString() }).toEqual({
        topic: e.topic,
        event_id: e.event_id,
        timestamp: new Date(e.timestamp).toISOString(),
        source: e.source ?? null,
        payload: e.payload ?? null,
      });
    }
    expect(missing).toEqual([]);
  } finally {
    await db.end();
  }
}
