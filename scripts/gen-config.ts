// `npm run gen:config`: rewrites what shared/config.ts generates (scripts/config-outputs.ts).
// `--check` only reports the stale files and exits 1 when there are any.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedFiles, ROOT } from './config-outputs.ts';

const check = process.argv.includes('--check');
const stale: string[] = [];
for (const [file, text] of generatedFiles()) {
  const full = path.join(ROOT, file);
  let current = '';
  try {
    current = readFileSync(full, 'utf8');
  } catch {
    // A generated file not written yet is stale like any other.
  }
  if (current === text) continue;
  stale.push(file);
  if (!check) writeFileSync(full, text);
}
if (check && stale.length > 0) {
  console.error(`stale, run \`npm run gen:config\`: ${stale.join(', ')}`);
  process.exit(1);
}
console.log(stale.length ? `${check ? 'stale' : 'wrote'}: ${stale.join(', ')}` : 'generated files are current');
