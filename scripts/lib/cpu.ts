import { readFileSync, readdirSync } from 'node:fs';

/** CPU seconds (user + system) used so far by a process and, optionally, its children. */
export function cpuSeconds(pid: number, withChildren = false): number {
  const ticks = 100; // USER_HZ on Linux
  const read = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      // fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
      return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / ticks;
    } catch {
      return undefined;
    }
  };
  let total = read(pid) ?? 0;
  if (withChildren) for (const child of childPids(pid)) total += read(child) ?? 0;
  return total;
}

/**
 * Context switches (voluntary + involuntary, over all threads) so far of a process and, optionally,
 * its children: a voluntary one is a thread going to sleep to wait for I/O or another thread, so
 * per event it counts the wakeups each process pays.
 */
export function contextSwitches(pid: number, withChildren = false): number {
  const ofProcess = (p: number) => {
    let n = 0;
    try {
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const status = readFileSync(`/proc/${p}/task/${task}/status`, 'utf8');
        for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
      }
    } catch {
      /* exited meanwhile */
    }
    return n;
  };
  let total = ofProcess(pid);
  if (withChildren) for (const child of childPids(pid)) total += ofProcess(child);
  return total;
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const f = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}
