// No container engine here: check that everything the Dockerfile COPYs from the build context
// exists and is not excluded by .dockerignore (run from the repository root).
import { existsSync, readFileSync } from 'node:fs';

const ignored = readFileSync('.dockerignore', 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const matches = (pat: string, p: string) => new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`).test(p);
// As Docker reads it: the last pattern that matches decides, and a `!pattern` re-includes.
const isIgnored = (p: string) => {
  let out = false;
  for (const pat of ignored) {
    if (pat.startsWith('!')) {
      if (matches(pat.slice(1), p)) out = false;
    } else if (matches(pat, p)) out = true;
  }
  return out;
};

let bad = 0;
for (const line of readFileSync('Dockerfile', 'utf8').split('\n')) {
  const m = /^COPY\s+(.*)$/.exec(line);
  if (!m || /--from=/.test(m[1]!)) continue;
  const parts = m[1]!.split(/\s+/).filter((w) => !w.startsWith('--'));
  for (const src of parts.slice(0, -1)) {
    if (!existsSync(src)) {
      console.error(`COPY source missing: ${src}`);
      bad++;
    } else if (isIgnored(src)) {
      console.error(`COPY source excluded by .dockerignore: ${src}`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
