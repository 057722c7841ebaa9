// Child processes of the integration tests (nats-server, PostgreSQL, ingest, consumer) log to files
// (startLocalStack's appLogs: 'files'), so a passing run reads as a list of results. When a test
// fails, the end of every log of the stacks running at that moment is printed under it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach } from 'vitest';
import { runningStacks } from '../../scripts/lib/stack.ts';

const TAIL_LINES = 40;

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    for (const stack of runningStacks) {
      for (const file of stack.logFiles()) {
        if (!existsSync(file)) continue;
        const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
        console.error(
          `--- ${path.basename(file)} (last ${Math.min(TAIL_LINES, lines.length)} of ${lines.length} lines)\n${lines.slice(-TAIL_LINES).join('\n')}`,
        );
      }
    }
  });
});
