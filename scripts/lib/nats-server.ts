// Throwaway nats-server (JetStream): one server, or a cluster of N, on free loopback ports in a temp
// dir, logging to a file there.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../load/poll.ts';
import { findBinary } from './binaries.ts';
import { freePort, portOpen } from './ports.ts';
import { exitReason } from './apps.ts';
import { removeDir } from './temp-dir.ts';

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
  /** The nats-server binary to run (another commit's pinned version); the one on PATH by default. */
  bin?: string;
}

export async function startNats(opts: NatsOptions = {}): Promise<NatsServer> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'pubsub-nats-'));
  const port = opts.port ?? (await freePort());
  const bin = opts.bin ?? findBinary('nats-server');
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
      // GOMAXPROCS 1 as the chart sets it (values.yaml nats.goMaxProcs says why); GOMAXPROCS=0 in
      // the environment leaves it to Go, any other value is used as it is.
      const goMaxProcs = process.env.GOMAXPROCS ?? '1';
      proc = spawn(bin, args, {
        stdio: 'ignore',
        env: { ...process.env, GOMAXPROCS: goMaxProcs === '0' ? undefined : goMaxProcs },
      });
      try {
        await pollUntil(() => portOpen(port), Boolean, { what: `nats-server ${name}`, timeoutMs: 30_000, abortIf: () => exitReason(proc) });
      } catch (err) {
        // The temp dir (and the log in it) may be gone by the time anyone reads the error.
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
        throw new Error(`${(err as Error).message}; its log ends:\n${log}`, { cause: err });
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
      await pollUntil(healthy, Boolean, { what: `JetStream cluster (logs: ${dir})`, timeoutMs: 60_000 });
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
    await pollUntil(healthy, Boolean, { what: `JetStream cluster (logs: ${dir})`, timeoutMs: 60_000 });
  } catch (err) {
    await cluster.remove();
    throw err;
  }
  return cluster;
}
