// `node --import tsx scripts/profile-top.ts FILE.cpuprofile [N]`: the N functions with the most
// self time in a V8 CPU profile (as written by `npm run bench -- --profile DIR`), for
// bench/RESULTS.md. Self time = samples whose innermost frame is the function.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, n = '15'] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top.ts FILE.cpuprofile [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));

const label = ({ functionName, url, lineNumber }: ProfileNode['callFrame']) => {
  const where = url
    ? `${url
        .replace(/^file:\/\//, '')
        .replace(/.*node_modules\//, '')
        .replace(process.cwd() + path.sep, '')}:${lineNumber + 1}`
    : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};

const selfUs = new Map<string, number>();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const us = profile.timeDeltas[i] ?? 0;
  if (!node) return;
  totalUs += us;
  const key = label(node.callFrame);
  selfUs.set(key, (selfUs.get(key) ?? 0) + us);
});
const idle = selfUs.get('(idle)') ?? 0;
const busyUs = totalUs - idle;
console.log(`${path.basename(file)}: ${(busyUs / 1e6).toFixed(2)} s busy of ${(totalUs / 1e6).toFixed(2)} s sampled`);
console.log('| self % of busy | self ms | function |\n| --- | --- | --- |');
[...selfUs]
  .filter(([k]) => k !== '(idle)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(n))
  .forEach(([k, us]) => console.log(`| ${((100 * us) / busyUs).toFixed(1)} | ${(us / 1000).toFixed(0)} | \`${k}\` |`));
