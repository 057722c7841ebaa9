// Throwaway PostgreSQL on a free loopback port in a temp dir, logging to a file there, and the
// Prisma CLI against it.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrateDeploy, runPrismaCli } from '../../apps/migrate/prisma-cli.ts';
import { pollUntil } from '../../load/poll.ts';
import { findBinary } from './binaries.ts';
import { freePort, portOpen } from './ports.ts';
import { removeDir } from './temp-dir.ts';

export interface Postgres {
  url: string;
  port: number;
  /** The postmaster's process id while it runs (its backends are its children). */
  pid(): number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and deletes the temp dir it created (a dir passed in is the caller's). */
  remove(): Promise<void>;
  /** The server's log, to show when a test fails. */
  logFile: string;
}

/** PostgreSQL refuses to run as root; as root we run it as `nobody` with a data dir it owns. */
function asServiceUser(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['runuser', ['-u', 'nobody', '--', cmd, ...args]];
}

/** `settings`: extra server settings (`-c name=value`), e.g. shared_preload_libraries for a test. */
export async function startPostgres(opts: { dir?: string; settings?: Record<string, string> } = {}): Promise<Postgres> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'pubsub-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  if (process.getuid?.() === 0) chownSync(dir, 65534, 65534);
  const run = (bin: string, args: string[]) => {
    const [c, a] = asServiceUser(findBinary(bin), args);
    execFileSync(c, a, { stdio: 'pipe' });
  };
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const pg: Postgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    logFile: path.join(dir, 'postgres.log'),
    pid: () => {
      try {
        return Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      } catch {
        return undefined;
      }
    },
    async start() {
      // Durability settings stay at PostgreSQL's defaults: the tests and benchmarks measure the
      // same commit cost a real deployment pays.
      const extra = Object.entries(opts.settings ?? {})
        .map(([k, v]) => ` -c ${k}=${v}`)
        .join('');
      run('pg_ctl', [
        '-D',
        data,
        '-l',
        path.join(dir, 'postgres.log'),
        '-w',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${extra}`,
        'start',
      ]);
      await pollUntil(() => portOpen(port), Boolean, { what: 'postgres', timeoutMs: 30_000 });
    },
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
    },
    async remove() {
      await pg.stop();
      if (!opts.dir) removeDir(dir);
    },
  };
  await pg.start();
  return pg;
}

/**
 * The Prisma CLI against `databaseUrl` (apps/migrate/prisma-cli.ts); returns its output, throws (with
 * `status`, `stdout`, `stderr`) when it exits non-zero.
 */
export function prismaCli(databaseUrl: string, args: string[], cwd = process.cwd()): string {
  const r = runPrismaCli(args, { databaseUrl, cwd });
  if (r.status !== 0)
    throw Object.assign(new Error(`prisma ${args.join(' ')} exited ${r.status}`), { status: r.status, stdout: r.stdout, stderr: r.stderr });
  return r.stdout;
}

/** `prisma migrate deploy` against `databaseUrl`. */
export function migrate(databaseUrl: string, cwd = process.cwd()): void {
  migrateDeploy({ databaseUrl, cwd });
}
