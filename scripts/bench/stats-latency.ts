// --stats-topics N: what GET /stats costs when publishers have invented N topics.
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { writeTopicCounters } from '../lib/topic-counters.ts';
import { startLocalStack } from '../lib/stack.ts';
import { pct } from './stats.ts';

/**
 * GET /stats latency (ms, sequential calls over HTTP) with `topics` topics: its cost must not grow
 * with the number of topics a publisher invents (target: under 50 ms at 10,000).
 */
export async function statsLatency(topics: number, calls = 50): Promise<{ p50: number; p95: number; bytes: number }> {
  const stack = await startLocalStack({}, { exitOnSignal: true });
  const client = new pg.Client({ connectionString: stack.pg.url });
  const nc = await connect({ servers: stack.nats.url });
  try {
    // The consumer owns the topology (streams, the broker-duplicate total); ingest is not ready before it.
    await stack.start('consumer');
    const ingest = await stack.start('ingest');
    await client.connect();
    await writeTopicCounters(client, nc, 'EVENTS', 'bench.t', 0, topics);
    await client.query('ANALYZE topic_counters');
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < calls + 5; i++) {
      const t0 = performance.now();
      const body = await (await fetch(`${ingest.url}/stats`)).text();
      if (i >= 5) times.push(performance.now() - t0);
      bytes = body.length;
    }
    times.sort((a, b) => a - b);
    return { p50: +pct(times, 50).toFixed(1), p95: +pct(times, 95).toFixed(1), bytes };
  } finally {
    await nc.close();
    await client.end().catch(() => {});
    await stack.stop();
  }
}
