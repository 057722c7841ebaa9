// The pinned servers' binaries: installed by scripts/install-prereqs.sh, or Debian's PostgreSQL.
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREREQS_DIR =
  process.env.PREREQS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pubsub-aggregator');

/** Finds a binary on PATH, in the project's tool dir, or in Debian's PostgreSQL dir. */
export function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), path.join(PREREQS_DIR, 'bin')];
  const pgRoot = '/usr/lib/postgresql';
  if (existsSync(pgRoot)) {
    for (const v of readdirSync(pgRoot).sort((a, b) => Number(b) - Number(a))) dirs.push(path.join(pgRoot, v, 'bin'));
  }
  for (const d of dirs) {
    const p = path.join(d, name);
    if (d && existsSync(p)) return p;
  }
  throw new Error(`${name} not found on PATH or in ${PREREQS_DIR}/bin: run scripts/install-prereqs.sh`);
}
