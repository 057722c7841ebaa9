// The apps as child processes, as the image runs them (compiled dist/) or from the sources (tsx).
import { closeSync, openSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pollUntil } from '../../load/poll.ts';
import { freePort, portOpen } from './ports.ts';

/**
 * V8 flags the apps run with here and in the image (Dockerfile NODE_OPTIONS): a 32 MiB young
 * generation halves the scavenges of these allocation-heavy request paths; A/B on this machine,
 * 4 × 3 runs: batched e2e 1.79 s → 1.60 s mean, with lower peak RSS (bench/RESULTS.md).
 */
export const NODE_FLAGS = ['--max-semi-space-size=32'];

export interface AppProcess {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess;
  /** Resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Starts `ingest` or `consumer` as a child process and waits for /healthz. `runner: 'dist'` runs
 * the compiled output (what the image runs); 'tsx' runs the sources (no build step).
 */
export async function startApp(
  app: 'ingest' | 'consumer',
  env: Record<string, string>,
  opts: {
    runner?: 'dist' | 'tsx';
    cwd?: string;
    /** Where stdout and stderr go: inherited, dropped, or appended to this file (to show on failure). */
    log?: 'inherit' | 'ignore' | { file: string };
    waitReady?: boolean;
    extraNodeFlags?: string[];
  } = {},
): Promise<AppProcess> {
  const cwd = opts.cwd ?? process.cwd();
  const port = env.PORT && env.PORT !== '0' ? Number(env.PORT) : await freePort();
  // Otherwise whatever already listens there would answer the readiness probe below, and this app
  // would be reported running while it exits with EADDRINUSE.
  if (await portOpen(port))
    throw new Error(`cannot start ${app}: port ${port} is already in use on 127.0.0.1 (choose another with --port or PORT)`);
  const args = [
    ...NODE_FLAGS,
    ...(opts.extraNodeFlags ?? []),
    ...((opts.runner ?? 'dist') === 'dist'
      ? ['--enable-source-maps', path.join(cwd, 'dist/apps/main.js'), app]
      : ['--import', 'tsx', path.join(cwd, 'apps/main.ts'), app]),
  ];
  const logFd = typeof opts.log === 'object' ? openSync(opts.log.file, 'a') : undefined;
  const out = logFd ?? (opts.log as 'inherit' | 'ignore' | undefined) ?? 'inherit';
  const proc = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', out, logFd ?? 'inherit'],
  });
  if (logFd !== undefined) closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const path_ = opts.waitReady === false ? '/healthz' : '/readyz';
  await pollUntil(async () => (await fetch(url + path_)).ok, Boolean, {
    what: `${app} on ${url}`,
    timeoutMs: 60_000,
    abortIf: () => exitReason(proc),
  });
  return {
    name: app,
    port,
    url,
    proc,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Why waiting for a child process is pointless: it exited (undefined while it runs). */
export const exitReason = (proc: ChildProcess | undefined) =>
  proc && proc.exitCode !== null ? `exited with code ${proc.exitCode}` : proc?.signalCode ? `killed by ${proc.signalCode}` : undefined;
