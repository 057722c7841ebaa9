// A whole throwaway stack for the local stack, the demo, the benchmark, the soak and the tests:
// real nats-server and PostgreSQL from binaries (scripts/install-prereqs.sh installs them), on free
// loopback ports, in temp dirs, so they never collide with anything already running.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type AppProcess } from './apps.ts';
import { startNats, startNatsCluster, type NatsServer } from './nats-server.ts';
import { migrate, startPostgres, type Postgres } from './postgres.ts';
import { removeDir } from './temp-dir.ts';

/**
 * Another commit's build (the benchmark's --against): its apps, migrations and nats-server run
 * instead of this tree's, so the stack is that commit's as a whole.
 */
export interface StackBuild {
  /** The checkout holding the build: apps run from its dist/apps/main.js. */
  root: string;
  natsServer: string;
  /** Brings a new database to the build's schema (its own migrations, its own tool). */
  migrate(databaseUrl: string): void;
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
    /** Extra nats-server configuration for a single server (e.g. `prof_port: N` for its pprof). */
    natsConfig?: string;
    /** Extra PostgreSQL server settings (see startPostgres). */
    postgresSettings?: Record<string, string>;
    /**
     * A running, migrated PostgreSQL of the caller's instead of a new one: the stack neither
     * migrates nor stops it (the benchmark's pre-filled database, used by one run after another).
     */
    postgres?: Postgres;
    /** Where the apps' output goes: the terminal (scripts), or a file each (tests: quiet output). */
    appLogs?: 'inherit' | 'files';
    /** Another commit's build to run instead of this tree's (single NATS server only). */
    build?: StackBuild;
  } = {},
): Promise<LocalStack> {
  const natsNodes = opts.natsNodes ?? 1;
  if (opts.build && natsNodes > 1) throw new Error("another commit's build runs on a single nats-server only");
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pubsub-stack-'));
  const [nats, pg] = await Promise.all([
    natsNodes > 1 ? startNatsCluster({ nodes: natsNodes, dir }) : startNats({ dir, config: opts.natsConfig, bin: opts.build?.natsServer }),
    opts.postgres ?? startPostgres({ settings: opts.postgresSettings }),
  ]);
  const ownPostgres = !opts.postgres;
  const apps: AppProcess[] = [];
  const appLogFiles: string[] = [];
  const teardown = async () => {
    await Promise.all(apps.map((a) => a.stop(opts.stopSignal ?? 'SIGTERM')));
    await Promise.all([nats.stop(), ownPostgres ? pg.remove() : undefined]);
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
    if (ownPostgres) (opts.build?.migrate ?? migrate)(pg.url);
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
      const p = await startApp(
        app,
        { ...created.env, PORT: '0', ...extraEnv },
        { runner: 'dist', cwd: opts.build?.root, extraNodeFlags: opts.extraNodeFlags, log: file ? { file } : 'inherit' },
      );
      apps.push(p);
      return p;
    },
    async stop() {
      runningStacks.delete(created);
      await teardown();
      releaseSignals();
    },
    logFiles: () => [...nats.logFiles, pg.logFile, ...appLogFiles],
  };
  runningStacks.add(created);
  return created;
}
