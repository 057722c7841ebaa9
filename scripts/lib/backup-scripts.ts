// The chart's backup and restore scripts (charts/pubsub-aggregator/files/*.sh) run the way their
// pods run them: bash, with the PostgreSQL client tools on PATH, configured by environment only.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary } from './binaries.ts';

const FILES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../charts/pubsub-aggregator/files');

export interface ScriptRun {
  code: number | null;
  /** stdout and stderr, interleaved. */
  out: string;
}

/** Runs files/<script> with only `env` (and PATH) set; resolves when it exits. */
export function runBackupScript(script: 'backup.sh' | 'restore.sh', env: Record<string, string>): Promise<ScriptRun> {
  const pgBin = path.dirname(findBinary('pg_dump'));
  const proc = spawn('bash', [path.join(FILES, script)], {
    env: { PATH: `${pgBin}:${process.env.PATH ?? ''}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}
