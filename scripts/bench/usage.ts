// CPU accounting: what each process of a run used, read from /proc before and after the run, so the
// report can say where the cores went whatever else this machine was doing.
import { readFileSync } from 'node:fs';
import { contextSwitches, cpuSeconds } from '../lib/cpu.ts';

export const PARTS = ['ingest', 'consumer', 'nats', 'postgres', 'load_generator'] as const;
export type Part = (typeof PARTS)[number];
export type PerPart = Record<Part, number>;
/** The parts that make up the server: everything but the load generator. */
export const SERVER_PARTS = ['ingest', 'nats', 'consumer', 'postgres'] as const satisfies readonly Part[];

/** The process ids of a run; PostgreSQL's backends are counted as its postmaster's children. */
export interface RunProcesses {
  ingest: number;
  consumer: number;
  nats: number;
  postgres: number;
}

export interface UsageSnapshot {
  cpu_s: PerPart;
  switches: PerPart;
}

export function usageOf(p: RunProcesses): UsageSnapshot {
  const own = process.cpuUsage();
  return {
    cpu_s: {
      ingest: cpuSeconds(p.ingest),
      consumer: cpuSeconds(p.consumer),
      nats: cpuSeconds(p.nats),
      postgres: cpuSeconds(p.postgres, true),
      load_generator: own.user / 1e6 + own.system / 1e6,
    },
    switches: {
      ingest: contextSwitches(p.ingest),
      consumer: contextSwitches(p.consumer),
      nats: contextSwitches(p.nats),
      postgres: contextSwitches(p.postgres, true),
      load_generator: contextSwitches(process.pid),
    },
  };
}

/** What each part used between two snapshots (CPU seconds to 10 ms, the kernel's tick). */
export function usageBetween(from: UsageSnapshot, to: UsageSnapshot): UsageSnapshot {
  const delta = (a: PerPart, b: PerPart, round: (x: number) => number) =>
    Object.fromEntries(PARTS.map((k) => [k, round(b[k] - a[k])])) as PerPart;
  return { cpu_s: delta(from.cpu_s, to.cpu_s, (x) => +x.toFixed(2)), switches: delta(from.switches, to.switches, (x) => x) };
}

/** Server CPU per event in µs: ingest + NATS + consumer + PostgreSQL over the events sent. */
export const serverMicrosPerEvent = (cpu: PerPart, events: number) => (SERVER_PARTS.reduce((s, k) => s + cpu[k], 0) / events) * 1e6;

/** A process's peak resident set (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}
