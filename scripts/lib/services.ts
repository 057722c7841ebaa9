// Throwaway nats-server and PostgreSQL for the local stack, the demo, the benchmark and the tests:
// real servers from binaries (scripts/install-prereqs.sh installs them), on free loopback ports,
// in temp dirs, so they never collide with anything already running.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { migrateDeploy, runPrismaCli } from '../../shared/db/prisma-cli.ts';

const PREREQS_DIR = process.env.PREREQS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pubsub-aggregator');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

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

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000, proc?: ChildProcess) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with code ${proc.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export interface NatsServer {
  /** A client URL (of the first server, for a cluster: clients learn the others from it). */
  url: string;
  /** Every server's client URL, comma-separated: what NATS_URL gets. */
  urls: string;
  port: number;
  /** The server's process id while it runs (the first server's, for a cluster). */
  pid(): number | undefined;
  /** Stops it (every server of a cluster). */
  stop(): Promise<void>;
  /** Starts it again on the same ports and store dirs (JetStream state survives). */
  start(): Promise<void>;
  /** Stops it for good and deletes the temp dir it created (a dir passed in is the caller's). */
  remove(): Promise<void>;
  /** Its servers: one for a single server, N for a cluster (stop one to fail a node). */
  servers: NatsServer[];
  /** Where its log(s) go, to show when a test fails. */
  logFiles: string[];
}

export interface NatsOptions {
  dir?: string;
  port?: number;
  /** Extra nats-server configuration (e.g. an authorization block), written to a file it loads. */
  config?: string;
  /** Extra command-line arguments (cluster flags). */
  args?: string[];
  /** Server name; JetStream in a cluster needs stable, distinct names. */
  name?: string;
  /** Monitoring port (/healthz), 0 = none. */
  monitorPort?: number;
}

export async function startNats(opts: NatsOptions = {}): Promise<NatsServer> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'pubsub-nats-'));
  const port = opts.port ?? (await freePort());
  const bin = findBinary('nats-server');
  const name = opts.name ?? 'nats';
  const logFile = path.join(dir, `${name}.log`);
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', path.join(dir, `jetstream-${name}`), '-n', name, '-l', logFile];
  if (opts.monitorPort) args.push('-m', String(opts.monitorPort));
  if (opts.config !== undefined) {
    const file = path.join(dir, `${name}.conf`);
    writeFileSync(file, opts.config);
    args.push('-c', file);
  }
  args.push(...(opts.args ?? []));
  let proc: ChildProcess | undefined;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    urls: `nats://127.0.0.1:${port}`,
    port,
    pid: () => proc?.pid,
    async start() {
      proc = spawn(bin, args, { stdio: 'ignore' });
      try {
        await waitFor(`nats-server ${name}`, () => portOpen(port), 30_000, proc);
      } catch (err) {
        // The temp dir (and the log in it) may be gone by the time anyone reads the error.
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
        throw new Error(`${(err as Error).message}; its log ends:\n${log}`);
      }
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
      });
    },
    async remove() {
      await server.stop();
      if (!opts.dir) removeDir(dir);
    },
    servers: [],
    logFiles: [logFile],
  };
  server.servers.push(server);
  await server.start();
  return server;
}

/**
 * A JetStream cluster of `nodes` nats-servers on loopback (routes between all of them), ready
 * once every server reports JetStream healthy, i.e. a meta leader is elected. Streams on it can
 * have up to `nodes` replicas; its PubAcks then mean "stored on a quorum", as on a 3-node
 * Kubernetes install.
 */
export async function startNatsCluster(opts: { nodes?: number; dir?: string; config?: string } = {}): Promise<NatsServer> {
  const nodes = opts.nodes ?? 3;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'pubsub-nats-cluster-'));
  // Distinct: two free-port probes can be handed the same port back.
  const free = new Set<number>();
  while (free.size < nodes * 3) free.add(await freePort());
  const list = [...free];
  const ports = Array.from({ length: nodes }, (_, i) => ({ client: list[3 * i]!, route: list[3 * i + 1]!, monitor: list[3 * i + 2]! }));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(',');
  const healthy = async () => {
    for (const p of ports) {
      const res = await fetch(`http://127.0.0.1:${p.monitor}/healthz`).catch(() => undefined);
      if (!res?.ok) return false;
    }
    return true;
  };
  // Started together, as a StatefulSet with podManagementPolicy Parallel does: a lone server
  // cannot elect a meta leader.
  const servers = await Promise.all(
    ports.map((p, i) =>
      startNats({
        dir,
        port: p.client,
        name: `n${i + 1}`,
        monitorPort: p.monitor,
        config: opts.config,
        args: ['--cluster_name', 'pubsub-test', '--cluster', `nats://127.0.0.1:${p.route}`, '--routes', routes],
      }),
    ),
  );
  const cluster: NatsServer = {
    url: servers[0]!.url,
    urls: servers.map((s) => s.url).join(','),
    port: servers[0]!.port,
    pid: () => servers[0]!.pid(),
    async start() {
      await Promise.all(servers.map((s) => s.start()));
      await waitFor(`JetStream cluster (logs: ${dir})`, healthy, 60_000);
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
    async remove() {
      await cluster.stop();
      if (!opts.dir) removeDir(dir);
    },
    servers,
    logFiles: servers.flatMap((s) => s.logFiles),
  };
  try {
    await waitFor(`JetStream cluster (logs: ${dir})`, healthy, 60_000);
  } catch (err) {
    await cluster.remove();
    throw err;
  }
  return cluster;
}

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
      const extra = Object.entries(opts.settings ?? {}).map(([k, v]) => ` -c ${k}=${v}`).join('');
      run('pg_ctl', ['-D', data, '-l', path.join(dir, 'postgres.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${extra}`, 'start']);
      await waitFor('postgres', () => portOpen(port));
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
 * The Prisma CLI against `databaseUrl` (shared/db/prisma-cli.ts); returns its output, throws (with
 * `status`, `stdout`, `stderr`) when it exits non-zero.
 */
export function prismaCli(databaseUrl: string, args: string[], cwd = process.cwd()): string {
  const r = runPrismaCli(args, { databaseUrl, cwd });
  if (r.status !== 0) throw Object.assign(new Error(`prisma ${args.join(' ')} exited ${r.status}`), { status: r.status, stdout: r.stdout, stderr: r.stderr });
  return r.stdout;
}

/** `prisma migrate deploy` against `databaseUrl`. */
export function migrate(databaseUrl: string, cwd = process.cwd()): void {
  migrateDeploy({ databaseUrl, cwd });
}

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
  if (await portOpen(port)) throw new Error(`cannot start ${app}: port ${port} is already in use on 127.0.0.1 (choose another with --port or PORT)`);
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
  await waitFor(`${app} on ${url}`, async () => (await fetch(url + path_)).ok, 60_000, proc);
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

export function removeDir(dir: string) {
  rmSync(dir, { recursive: true, force: true });
}

/** CPU seconds (user + system) used so far by a process and, optionally, all its descendants. */
export function cpuSeconds(pid: number, withChildren = false): number {
  const ticks = 100; // USER_HZ on Linux
  const read = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      // fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
      return { ppid: Number(rest[1]), cpu: (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / ticks };
    } catch {
      return undefined;
    }
  };
  let total = read(pid)?.cpu ?? 0;
  if (withChildren) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
      const st = read(Number(entry));
      if (st?.ppid === pid) total += st.cpu;
    }
  }
  return total;
}

export interface LocalStack {
  nats: NatsServer;
  pg: Postgres;
  /** NATS_URL, DATABASE_URL and the caller's extras, passed to every app started. */
  env: Record<string, string>;
  apps: AppProcess[];
  start(app: 'ingest' | 'consumer', extraEnv?: Record<string, string>): Promise<AppProcess>;
  stop(): Promise<void>;
  /** Logs of its servers and apps: files with `appLogs: 'files'`, else the servers' only. */
  logFiles(): string[];
}

/** Stacks running in this process: the tests print their logs when a test fails. */
export const runningStacks = new Set<LocalStack>();

/**
 * Real nats-server and PostgreSQL on free ports in a temp dir, schema migrated. Apps started
 * through `start()` run the compiled dist/ (what the image runs) and are stopped with the stack,
 * with `stopSignal` (SIGTERM drains; tests use SIGKILL to be quick).
 */
export async function startLocalStack(
  env: Record<string, string> = {},
  opts: {
    stopSignal?: NodeJS.Signals;
    extraNodeFlags?: string[];
    /**
     * For scripts (bench, soak): Ctrl-C or SIGTERM stops the stack and deletes its temp dirs, then
     * exits 130 / 143, instead of leaving servers and ~45 MB of data dirs behind. Covers the stack
     * from the moment both servers run; tests leave it off (vitest owns their signals).
     */
    exitOnSignal?: boolean;
    /** nats-servers: 1, or a JetStream cluster of N (STREAM_REPLICAS then defaults to N). */
    natsNodes?: number;
    /** Extra PostgreSQL server settings (see startPostgres). */
    postgresSettings?: Record<string, string>;
    /** Where the apps' output goes: the terminal (scripts), or a file each (tests: quiet output). */
    appLogs?: 'inherit' | 'files';
  } = {},
): Promise<LocalStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-stack-'));
  const natsNodes = opts.natsNodes ?? 1;
  const [nats, pg] = await Promise.all([
    natsNodes > 1 ? startNatsCluster({ nodes: natsNodes, dir }) : startNats({ dir }),
    startPostgres({ settings: opts.postgresSettings }),
  ]);
  const apps: AppProcess[] = [];
  const appLogFiles: string[] = [];
  let stack: LocalStack | undefined;
  const teardown = async () => {
    if (stack) runningStacks.delete(stack);
    await Promise.all(apps.map((a) => a.stop(opts.stopSignal ?? 'SIGTERM')));
    await Promise.all([nats.stop(), pg.remove()]);
    removeDir(dir);
  };
  // Listening with `on`, not `once`: a Ctrl-C often arrives twice (from the terminal and relayed by
  // tsx), and a second one without a listener would kill Node in the middle of the cleanup.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    void teardown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  const releaseSignals = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  if (opts.exitOnSignal) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    migrate(pg.url);
  } catch (err) {
    // Handlers are released only after the teardown: a Ctrl-C that killed the migration is still
    // pending, and with no listener left Node would die of it halfway through the cleanup.
    await teardown();
    releaseSignals();
    throw err;
  }
  const created: LocalStack = {
    nats,
    pg,
    env: { NATS_URL: nats.urls, DATABASE_URL: pg.url, LOG_LEVEL: 'warn', STREAM_REPLICAS: String(natsNodes), ...env },
    apps,
    async start(app, extraEnv = {}) {
      const file = opts.appLogs === 'files' ? path.join(dir, `${app}-${apps.length + 1}.log`) : undefined;
      if (file) appLogFiles.push(file);
      const p = await startApp(app, { ...created.env, PORT: '0', ...extraEnv }, { runner: 'dist', extraNodeFlags: opts.extraNodeFlags, log: file ? { file } : 'inherit' });
      apps.push(p);
      return p;
    },
    async stop() {
      await teardown();
      releaseSignals();
    },
    logFiles: () => [...nats.logFiles, pg.logFile, ...appLogFiles],
  };
  stack = created;
  runningStacks.add(created);
  return created;
}
