// Integration tests run the bundled apps (dist/, what the image runs). This global setup rebuilds
// dist/ when any source is newer than it, so `vitest run test/integration` after an edit never tests
// stale code; `npm test` has just built it and skips this.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SOURCES = ['apps', 'shared', 'prisma', 'package-lock.json', 'tsconfig.json', 'scripts/bundle.ts'];
const BUILT = path.join(ROOT, 'dist/apps/main.js');

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((e) => newestMtime(path.join(p, e))));
}

export default function setup(): void {
  const sources = Math.max(...SOURCES.map((s) => newestMtime(path.join(ROOT, s))));
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= sources) return;
  console.log('[build-dist] sources changed since dist/ was built: npm run build');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
}
