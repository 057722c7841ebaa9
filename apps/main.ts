// The image's single entry point: `node dist/apps/main.js ingest|consumer|migrate`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrateConfig } from '../shared/config.ts';
import { ensureAppRole } from '../shared/db/app-role.ts';

/** The directory holding prisma.config.ts: the repo root, or /app in the image. */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'prisma.config.ts'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('prisma.config.ts not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The schema migration, then the apps' own role (shared/db/app-role.ts) when APP_DB_USER is set. */
async function migrate(): Promise<number> {
  const config = loadMigrateConfig();
  const status = migrateSchema();
  if (status !== 0 || !config.APP_DB_USER) return status;
  await ensureAppRole(config.DATABASE_URL, config.APP_DB_USER, config.APP_DB_PASSWORD!);
  console.log(`role ${config.APP_DB_USER}: login, SELECT/INSERT/UPDATE on the schema's tables, nothing else`);
  return 0;
}

function migrateSchema(): number {
  // `prisma migrate deploy` on the WebAssembly schema engine (see prisma.config.ts): the native
  // engine cannot be downloaded in locked-down networks and is not shipped in the image.
  const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  const result = spawnSync(process.execPath, [cli, 'migrate', 'deploy'], {
    cwd: projectRoot(),
    stdio: ['inherit', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/nonexistent/use-wasm-engine',
      PRISMA_QUERY_ENGINE_LIBRARY: process.env.PRISMA_QUERY_ENGINE_LIBRARY ?? '/dev/null',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
  process.stdout.write(withoutUnusedUrlWarning(result.stdout ?? ''));
  return result.status ?? 1;
}

/**
 * Prisma 6.19 requires `url` in the schema's datasource block (P1012 without it, even with the
 * driverAdapters preview flag), then `migrate deploy` warns on every run that the url is unused
 * because prisma.config.ts supplies a driver adapter. Both are true; the warning only alarms whoever
 * reads the migration Job's log, so it is dropped here and nothing else is.
 */
function withoutUnusedUrlWarning(output: string): string {
  return output.replace(/\n?WARNING: Your schema specifies the following datasource properties but you are using a Driver Adapter[\s\S]*?to avoid confusion if you are only using driver adapters\.\n/, '\n');
}

const command = process.argv[2];
switch (command) {
  case 'ingest':
    await (await import('./ingest/server.ts')).runIngest();
    break;
  case 'consumer':
    await (await import('./consumer/server.ts')).runConsumer();
    break;
  case 'migrate':
    process.exit(await migrate());
    break;
  default:
    console.error(`usage: main.js ingest|consumer|migrate (got ${command ?? 'nothing'})`);
    process.exit(2);
}
