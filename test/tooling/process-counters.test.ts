import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { contextSwitches, cpuSeconds } from '../../scripts/lib/cpu.ts';

// What `npm run bench` reports per process: read from /proc, so checked against real processes.
describe('process counters (scripts/lib/cpu.ts)', () => {
  it('counts a process that sleeps and wakes 50 times as at least 50 context switches', async () => {
    const before = contextSwitches(process.pid);
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 1));
    expect(contextSwitches(process.pid) - before).toBeGreaterThanOrEqual(50);
  });

  it('adds the children when asked, and nothing for a process that is gone', async () => {
    // A child that burns 300 ms of its own CPU time (not of wall time, which a busy machine stretches),
    // says so, then waits to be killed.
    const child = spawn(
      process.execPath,
      ['-e', "while (process.cpuUsage().user + process.cpuUsage().system < 300_000); console.log('burnt'); setInterval(() => {}, 1000)"],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => resolve());
        child.once('exit', () => reject(new Error('the child exited before burning its CPU time')));
      });
      const own = cpuSeconds(process.pid);
      const withChild = cpuSeconds(process.pid, true);
      expect(withChild - own).toBeGreaterThanOrEqual(0.2);
      expect(contextSwitches(process.pid, true)).toBeGreaterThan(contextSwitches(process.pid));
    } finally {
      child.kill();
    }
    expect(cpuSeconds(2 ** 22 + 1)).toBe(0);
    expect(contextSwitches(2 ** 22 + 1)).toBe(0);
  });
});
