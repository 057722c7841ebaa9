// Runs as `node /scripts/wait-for.cjs` in the application image (working directory /app), mounted
// from the <fullname>-scripts ConfigMap; the pg driver is resolved from the app's node_modules.
// WAIT_FOR=postgres   -> exit 0 once PostgreSQL at DATABASE_URL accepts a query.
// WAIT_FOR=migrations -> exit 0 once every migration shipped in prisma/migrations/ is recorded as
//                        finished (and not rolled back) in _prisma_migrations.
// WAIT_FOR=url        -> exit 0 once WAIT_URL answers 200 (e.g. ingest's /readyz, for the k6 Job).
// Exits 1 after WAIT_TIMEOUT_SECONDS so the pod restarts and the failure is visible.
const fs = require('node:fs');
const appRequire = require('node:module').createRequire(`${process.cwd()}/`);
const mode = process.env.WAIT_FOR || 'migrations';
const deadline = Date.now() + Number(process.env.WAIT_TIMEOUT_SECONDS || 900) * 1000;
const wanted =
  mode === 'migrations'
    ? fs
        .readdirSync('prisma/migrations', { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function check() {
  if (mode === 'url') {
    const res = await fetch(process.env.WAIT_URL, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`${process.env.WAIT_URL} answered ${res.status}`);
    return [];
  }
  const { Client } = appRequire('pg');
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    if (mode !== 'migrations') {
      await client.query('select 1');
      return [];
    }
    const table = await client.query("select to_regclass('_prisma_migrations') is not null as present");
    if (!table.rows[0].present) return wanted;
    const done = await client.query(
      'select migration_name from _prisma_migrations where finished_at is not null and rolled_back_at is null',
    );
    const applied = new Set(done.rows.map((r) => r.migration_name));
    return wanted.filter((m) => !applied.has(m));
  } finally {
    await client.end().catch(() => {});
  }
}
(async () => {
  for (;;) {
    let why;
    try {
      const missing = await check();
      if (missing.length === 0) {
        console.log(`wait-for ${mode}: ready`);
        return;
      }
      why = `missing migrations: ${missing.join(', ')}`;
    } catch (err) {
      why = err && err.message ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      console.error(`wait-for ${mode}: timed out (${why})`);
      process.exit(1);
    }
    console.log(`wait-for ${mode}: waiting (${why})`);
    await sleep(2000);
  }
})();
