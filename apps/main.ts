// The image's single entry point: `node dist/apps/main.js ingest|consumer|migrate|dead-letters`.
import { loadMigrateConfig } from '../shared/config.ts';
import { ensureAppRole } from './migrate/app-role.ts';
import { migrateDeploy } from './migrate/prisma-cli.ts';

/** The schema migration, then the apps' own role (apps/migrate/app-role.ts) when APP_DB_USER is set. */
async function migrate(): Promise<number> {
  const config = loadMigrateConfig();
  try {
    process.stdout.write(migrateDeploy({ databaseUrl: config.DATABASE_URL }));
  } catch (err) {
    console.error((err as Error).message);
    return (err as { status?: number }).status || 1;
  }
  if (!config.APP_DB_USER) return 0;
  await ensureAppRole(config.DATABASE_URL, config.APP_DB_USER, config.APP_DB_PASSWORD!);
  console.log(`role ${config.APP_DB_USER}: login, SELECT/INSERT/UPDATE on the schema's tables, nothing else`);
  return 0;
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
  case 'dead-letters':
    process.exit(await (await import('./dead-letters/cli.ts')).runDeadLetters(process.argv.slice(3)));
    break;
  default:
    console.error(`usage: main.js ingest|consumer|migrate|dead-letters (got ${command ?? 'nothing'})`);
    process.exit(2);
}
