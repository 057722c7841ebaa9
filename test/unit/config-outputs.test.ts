// shared/config.ts is the one declaration of the environment: these fail when what is generated
// from it is stale (CI runs the unit project), or when a variable's chart value is missing.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generatedFiles, ROOT, variables } from '../../scripts/config-outputs.ts';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const CHART = 'charts/pubsub-aggregator';

describe('what shared/config.ts generates', () => {
  it.each([...generatedFiles()])('%s is current (else run `npm run gen:config`)', (file, text) => {
    expect(read(file), `${file} is stale: run \`npm run gen:config\` and commit the result`).toBe(text);
  });

  it('lists every variable in the README, with the processes that read it', () => {
    const readme = read('README.md');
    for (const v of variables()) {
      const row = `| \`${v.name}\` | ${v.apps.join(', ')} |`;
      expect(readme.includes(row), `README.md has no row ${row}`).toBe(true);
    }
  });
});

describe('the variables the processes read', () => {
  // A variable read anywhere else would escape the validation at start, the README and the chart.
  it('are read through shared/config.ts only', () => {
    const files = execFileSync('git', ['ls-files', 'apps', 'shared', 'prisma.config.ts'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
    const readers = files
      .filter((f) => f.endsWith('.ts') && f !== 'shared/config.ts')
      .flatMap((f) => [...read(f).matchAll(/process\.env\.([A-Z_]+)|process\.env\[/g)].map((m) => `${f}: ${m[0]}`));
    // prisma.config.ts runs inside the Prisma CLI, started by `migrate` with the DATABASE_URL it validated.
    expect(readers).toEqual(['prisma.config.ts: process.env.DATABASE_URL']);
  });
});

describe('the chart value of every variable', () => {
  const values = parse(read(`${CHART}/values.yaml`)) as Record<string, unknown>;
  const lookup = (dotted: string) =>
    dotted
      .split('.')
      .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), values);

  it.each(variables().map((v) => [v.name, v.apps.join(', '), v.setting.chart] as const))(
    '%s (%s) has its value in values.yaml, or a template that builds it, or a stated reason for none',
    (name, _apps, chart) => {
      if ('none' in chart) {
        expect(chart.none.length, `${name}: say why the chart does not set it`).toBeGreaterThan(10);
        return;
      }
      if ('template' in chart) {
        expect(read(`${CHART}/templates/_env.tpl`)).toContain(`define "pubsub-aggregator.env.${name}"`);
      }
      if (chart.value === undefined) return;
      const v = lookup(chart.value);
      const nullable = 'nullable' in chart && chart.nullable;
      expect(v === undefined || (v === null && !nullable), `${name}: values.yaml has no default at ${chart.value}`).toBe(false);
    },
  );
});

describe('release', () => {
  const pkg = JSON.parse(read('package.json')) as { version: string };
  const chart = parse(read(`${CHART}/Chart.yaml`)) as { version: string; appVersion: string };

  it("the chart's appVersion is package.json's version (the image tag it deploys by default)", () => {
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('CHANGELOG.md has a section for that version and for the chart version', () => {
    const changelog = read('CHANGELOG.md');
    expect(changelog).toMatch(new RegExp(`^## \\[${pkg.version.replaceAll('.', '\\.')}\\]`, 'm'));
    expect(changelog).toContain(`chart ${chart.version}`);
  });
});
