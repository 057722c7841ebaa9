import { readFileSync, readdirSync } from 'node:fs';

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
