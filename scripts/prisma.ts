// `npm run prisma -- <args>`: the Prisma CLI with the engine settings of apps/migrate/prisma-cli.ts,
// its output on this terminal.
import { spawnSync } from 'node:child_process';
import { PRISMA_CLI_ENV, prismaCliPath, projectRoot } from '../apps/migrate/prisma-cli.ts';

const cwd = projectRoot();
const r = spawnSync(process.execPath, [prismaCliPath(cwd), ...process.argv.slice(2)], {
  cwd,
  stdio: 'inherit',
  env: { ...PRISMA_CLI_ENV, ...process.env },
});
process.exit(r.status ?? 1);
