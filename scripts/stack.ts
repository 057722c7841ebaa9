// `npm run stack`: ingest + consumer on this machine until Ctrl-C.
// `npm run demo`: the same, then 20,000 events (30% duplicates), wait until all are persisted,
// print /stats and check the counts are exact.
// Uses NATS_URL / DATABASE_URL when set; otherwise starts throwaway servers in a temp dir.
import { parseArgs } from 'node:util';
import { generateWorkload } from '../load/workload.ts';
import { sendEvents, waitForStats } from '../load/client.ts';
import { checkCounts } from '../load/count-check.ts';
import { startApp, type AppProcess } from './lib/apps.ts';
import { startNats } from './lib/nats-server.ts';
import { migrate, startPostgres } from './lib/postgres.ts';

const { values: args } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    events: { type: 'string', default: '20000' },
    'duplicate-rate': { type: 'string', default: '0.3' },
    seed: { type: 'string', default: '42' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    port: { type: 'string', default: process.env.PORT ?? '8080' },
  },
});

const say = (msg: string) => console.log(`[stack] ${msg}`);
const cleanups: Array<() => Promise<unknown>> = [];
let exiting = false;
async function shutdown(code: number) {
  if (exiting) return;
  exiting = true;
  for (const c of cleanups.reverse()) await c().catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    const nats = await startNats();
    cleanups.push(() => nats.remove());
    natsUrl = nats.url;
    say(`started nats-server (JetStream) at ${natsUrl}`);
  }
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startPostgres();
    cleanups.push(() => pg.remove());
    databaseUrl = pg.url;
    say(`started PostgreSQL at ${databaseUrl}`);
  }
  migrate(databaseUrl);
  say('migrations applied');

  const env = { NATS_URL: natsUrl, DATABASE_URL: databaseUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };
  const consumer: AppProcess = await startApp('consumer', { ...env, PORT: String(Number(args.port) + 1010) }, { runner: 'tsx' });
  cleanups.push(() => consumer.stop());
  const ingest: AppProcess = await startApp('ingest', { ...env, PORT: args.port }, { runner: 'tsx' });
  cleanups.push(() => ingest.stop());
  say(`ingest:   ${ingest.url}  (POST /publish, GET /events, GET /stats, /metrics)`);
  say(`consumer: ${consumer.url}  (/readyz, /metrics)`);

  if (!args.demo) {
    say('running; Ctrl-C to stop');
    await new Promise(() => {});
  }

  const workload = generateWorkload({
    events: Number(args.events),
    duplicateRate: Number(args['duplicate-rate']),
    seed: Number(args.seed),
  });
  const before = await waitForStats(ingest.url, () => true, 10_000);
  say(
    `sending ${workload.events.length} events (${workload.unique} unique, ${workload.duplicates} duplicates, seed ${args.seed}) in batches of ${args.batch}, ${args.concurrency} clients`,
  );
  const started = performance.now();
  const sent = await sendEvents(workload.events, {
    baseUrl: ingest.url,
    batchSize: Number(args.batch),
    concurrency: Number(args.concurrency),
  });
  const acceptedMs = performance.now() - started;
  const stats = await waitForStats(
    ingest.url,
    (s) =>
      s.unique_processed - before.unique_processed >= workload.unique &&
      s.queue_depth === 0 &&
      s.duplicate_dropped - before.duplicate_dropped >= workload.duplicates,
    120_000,
  );
  const e2eMs = performance.now() - started;
  console.log(JSON.stringify(stats, null, 2));
  const observed = {
    unique: stats.unique_processed - before.unique_processed,
    duplicates: stats.duplicate_dropped - before.duplicate_dropped,
  };
  say(
    `accepted in ${(acceptedMs / 1000).toFixed(2)} s; all persisted in ${(e2eMs / 1000).toFixed(2)} s (${Math.round(workload.events.length / (e2eMs / 1000))} events/s end to end); ${sent.retries} retries`,
  );
  const verdict = checkCounts(observed, workload, sent.retriedEvents);
  const exact = verdict.exact && sent.failed === 0;
  say(`${verdict.message}${sent.failed ? `; ${sent.failed} requests failed after retries: NOT EXACT` : ''}`);
  await shutdown(exact ? 0 : 1);
} catch (err) {
  console.error('[stack] failed:', err);
  await shutdown(1);
}
