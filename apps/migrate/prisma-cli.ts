import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Prisma CLI runs its WebAssembly schema engine through the pg driver adapter (see
 * prisma.config.ts): the native engine cannot be downloaded in locked-down networks and is not in
 * the image. Pointing the native engine variables at dummy paths stops the CLI from trying to
 * download it before it reads the config. The one place they are set: the image's `migrate`, the
 * tests' stacks and `npm run prisma` (scripts/prisma.ts) all start the CLI with them; a variable
 * already in the environment wins.
 */
export const PRISMA_CLI_ENV = {
  PRISMA_SCHEMA_ENGINE_BINARY: '/nonexistent/use-wasm-engine',
  PRISMA_QUERY_ENGINE_LIBRARY: '/dev/null',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};

/** The directory holding prisma.config.ts: the repo root, or /app in the image. */
export function projectRoot(from = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  while (!existsSync(path.join(dir, 'prisma.config.ts'))) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(
        `prisma.config.ts not found above ${from}: migrations run from the migrate image (Dockerfile target migrate, chart value migration.image), which has the Prisma CLI`,
      );
    dir = up;
  }
  return dir;
}

/** The Prisma CLI's entry script in the node_modules of the project at `cwd`. */
export const prismaCliPath = (cwd: string) => createRequire(path.join(cwd, 'package.json')).resolve('prisma/build/index.js');

/** Runs the Prisma CLI (`prisma <args>`) against `databaseUrl` (default: DATABASE_URL) and returns how it ended. */
export function runPrismaCli(args: string[], opts: { databaseUrl?: string; cwd?: string } = {}): SpawnSyncReturns<string> {
  const cwd = opts.cwd ?? projectRoot();
  return spawnSync(process.execPath, [prismaCliPath(cwd), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...PRISMA_CLI_ENV, ...process.env, ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}) },
  });
}

/**
 * Prisma 6.19 requires `url` in the schema's datasource block (P1012 without it, even with the
 * driverAdapters preview flag), then `migrate deploy` warns on every run that the url is unused
 * because prisma.config.ts supplies a driver adapter. Both are true; the warning only alarms whoever
 * reads the migration's log, so it is dropped here and nothing else is.
 */
const withoutUnusedUrlWarning = (output: string) =>
  output.replace(
    /\n?WARNING: Your schema specifies the following datasource properties but you are using a Driver Adapter[\s\S]*?to avoid confusion if you are only using driver adapters\.\n/,
    '\n',
  );

/** `prisma migrate deploy`: throws with the CLI's output when it fails; returns its output. */
export function migrateDeploy(opts: { databaseUrl?: string; cwd?: string } = {}): string {
  const r = runPrismaCli(['migrate', 'deploy'], opts);
  const output = withoutUnusedUrlWarning(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) throw Object.assign(new Error(`prisma migrate deploy failed (exit ${r.status}):\n${output}`), { status: r.status });
  return output;
}
