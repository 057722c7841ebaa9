// --against REF: another commit built once in a git worktree of its own, cached by commit hash, so
// its whole stack (apps, migrations, pinned nats-server) can run beside this tree's in one
// invocation. Each commit builds the way its own tree says (its scripts/bootstrap.sh, its
// package-lock.json): the tooling of this tree cannot know how a later or earlier one builds.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinary } from '../lib/binaries.ts';
import type { StackBuild } from '../lib/stack.ts';

export interface RefBuild extends StackBuild {
  /** As given to --against. */
  ref: string;
  commit: string;
  /** One line: short hash, commit date, subject. */
  summary: string;
  natsVersion: string;
}

/** Where builds are kept between invocations: one directory per commit hash. */
export const refsCacheDir = () =>
  process.env.BENCH_REFS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pubsub-aggregator-bench-refs');

const git = (repo: string, args: string[]) =>
  execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The commit a ref names in `repo`, as a full hash; throws naming the ref when there is none. */
export function resolveCommit(repo: string, ref: string): string {
  try {
    return git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new Error(`--against ${ref}: no such commit in ${repo}`);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Runs `f` holding `lock`, a file naming this process: two invocations asking for the same commit
 * (two people A/B-ing against the same reference) would otherwise build into one directory at once.
 * A lock whose process is gone (killed mid-build) is taken over.
 */
function whileLocked<T>(lock: string, f: () => T): T {
  for (let waited = 0; ; waited++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8'));
      if (holder && !alive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (waited % 30 === 0) console.error(`[bench] waiting for process ${holder || '?'} to finish its build (${lock})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2_000);
    }
  }
  try {
    return f();
  } finally {
    rmSync(lock, { force: true });
  }
}

const versionOf = (bin: string) => execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0]!;

/**
 * The build of `ref`: reused when its directory holds a finished one, else a fresh worktree at the
 * commit, bootstrapped (npm ci, its pinned prerequisites) and built with `npm run build`. Its
 * prerequisites go to a directory of its own, seeded with this tree's nats-server: a commit pinning
 * the same version reuses it, one pinning another gets its own without replacing the shared one.
 */
export function buildRef(repo: string, ref: string, cacheDir = refsCacheDir()): RefBuild {
  const commit = resolveCommit(repo, ref);
  const dir = path.join(cacheDir, commit);
  const root = path.join(dir, 'tree');
  const prereqs = path.join(dir, 'prereqs');
  const done = path.join(dir, 'built');
  const log = path.join(dir, 'build.log');
  mkdirSync(cacheDir, { recursive: true });
  whileLocked(`${dir}.lock`, () => {
    if (!existsSync(done) || !existsSync(path.join(root, 'dist/apps/main.js'))) {
      // A build that did not finish (a failure, a Ctrl-C) is started again from a clean checkout.
      if (existsSync(root)) spawnSync('git', ['-C', repo, 'worktree', 'remove', '--force', root], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(path.join(prereqs, 'bin'), { recursive: true });
      // --force: the worktree may still be registered if its directory was deleted by hand.
      git(repo, ['worktree', 'add', '--force', '--detach', root, commit]);
      const nats = findBinary('nats-server');
      copyFileSync(nats, path.join(prereqs, 'bin/nats-server'));
      const stamp = path.join(path.dirname(nats), '.nats-server.version');
      if (existsSync(stamp)) copyFileSync(stamp, path.join(prereqs, 'bin/.nats-server.version'));
      console.error(`[bench] building ${ref} (${commit.slice(0, 12)}) in ${root}; log: ${log}`);
      const t0 = performance.now();
      const command = existsSync(path.join(root, 'scripts/bootstrap.sh'))
        ? 'bash scripts/bootstrap.sh npm run -s build'
        : 'npm ci --no-audit --no-fund --loglevel=error && npm run -s build';
      writeFileSync(log, `$ ${command}\n`);
      const r = spawnSync('bash', ['-c', `${command} >>"$BUILD_LOG" 2>&1`], {
        cwd: root,
        env: { ...process.env, PREREQS_DIR: prereqs, BUILD_LOG: log },
        stdio: 'inherit',
      });
      if (r.status !== 0 || !existsSync(path.join(root, 'dist/apps/main.js'))) {
        const tail = readFileSync(log, 'utf8').split('\n').slice(-25).join('\n');
        throw new Error(
          `--against ${ref}: the build failed (exit ${r.status}; no dist/apps/main.js means the commit's apps cannot run as this bench starts them); ${log} ends:\n${tail}`,
        );
      }
      writeFileSync(done, `${commit}\n`);
      console.error(`[bench] built ${ref} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  });
  const natsServer = existsSync(path.join(prereqs, 'bin/nats-server')) ? path.join(prereqs, 'bin/nats-server') : findBinary('nats-server');
  return {
    ref,
    commit,
    summary: git(repo, ['log', '-1', '--format=%h %cd %s', '--date=format:%Y-%m-%d %H:%M', commit]),
    natsVersion: versionOf(natsServer),
    root,
    natsServer,
    migrate(databaseUrl) {
      // The commit's own `npm run migrate`: its migrations, its Prisma and its engine settings.
      const r = spawnSync('npm', ['run', '-s', 'migrate'], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`npm run migrate of ${ref} (${commit.slice(0, 12)}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
    },
  };
}
