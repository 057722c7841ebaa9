// shared/config.ts is the one declaration of the environment: these fail when what is generated
// from it is stale (CI runs the unit project), or when a variable's chart value is missing.
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
