// What shared/config.ts generates: the README's configuration table, the chart's env entries
// (templates/_env.generated.tpl) and the bounds of the chart values that set a variable
// (values.schema.json). Pure functions of the declarations and the files' current text, so the same
// code writes them (scripts/gen-config.ts) and checks they are current (test/unit/config-outputs.test.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type TSchema } from 'typebox';
import { SETTINGS, type App, type Setting } from '../shared/config.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const README = 'README.md';
export const ENV_TEMPLATE = 'charts/pubsub-aggregator/templates/_env.generated.tpl';
export const VALUES_SCHEMA = 'charts/pubsub-aggregator/values.schema.json';
export const TABLE_START = '<!-- configuration table: generated from shared/config.ts by `npm run gen:config` -->';
export const TABLE_END = '<!-- end of the generated configuration table -->';

/** One environment variable as one process or several read it (the same declaration). */
export interface Variable {
  name: string;
  setting: Setting;
  apps: App[];
}

/** Every declared variable once, in declaration order; a declaration shared by processes lists them all. */
export function variables(): Variable[] {
  const byDeclaration = new Map<Setting, Variable>();
  for (const [app, group] of Object.entries(SETTINGS) as [App, Record<string, Setting>][]) {
    for (const [name, setting] of Object.entries(group)) {
      const v = byDeclaration.get(setting) ?? { name, setting, apps: [] };
      v.apps.push(app);
      byDeclaration.set(setting, v);
    }
  }
  return [...byDeclaration.values()];
}

type Json = Record<string, unknown>;
const schemaOf = (s: Setting) => s.schema as TSchema & Json;
const isRequired = (s: Setting) => (Type.Object({ v: s.schema }).required as string[] | undefined)?.includes('v') ?? false;
const literals = (s: Setting) => (schemaOf(s).anyOf as Json[] | undefined)?.map((l) => l.const as string);

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function bytes(n: number): string {
  for (let i = UNITS.length; i > 0; i--) if (n % 1024 ** i === 0) return `${n / 1024 ** i} ${UNITS[i - 1]}`;
  return String(n);
}
const number = (name: string, n: number) => (name.endsWith('_BYTES') && n > 0 ? bytes(n) : String(n));
const code = (s: string) => `\`${s}\``;
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

function defaultOf(v: Variable): string {
  const schema = schemaOf(v.setting);
  if (!('default' in schema)) return isRequired(v.setting) ? 'required' : 'unset';
  const d = schema.default;
  return typeof d === 'number' ? number(v.name, d) : code(String(d));
}

function allowedOf(v: Variable): string {
  const schema = schemaOf(v.setting);
  const names = literals(v.setting);
  if (names) return names.map(code).join(', ');
  if (schema.type === 'integer') return `${number(v.name, schema.minimum as number)} – ${number(v.name, schema.maximum as number)}`;
  if (schema.type === 'boolean') return '`true`, `false`';
  const rules = [
    schema.pattern ? `matches ${code(schema.pattern as string)}` : '',
    schema.minLength ? `≥ ${String(schema.minLength)} characters` : '',
  ];
  return rules.filter(Boolean).join(', ') || 'text';
}

function chartOf(v: Variable): string {
  const c = v.setting.chart;
  if ('none' in c) return `none: ${c.none}`;
  if ('template' in c) return c.template;
  return code(c.value);
}

/** The README's table, markers included. */
export function configurationTable(): string {
  const rows = variables().map((v) =>
    [code(v.name), v.apps.join(', '), defaultOf(v), allowedOf(v), String(schemaOf(v.setting).description ?? ''), chartOf(v)].map(cell),
  );
  return [
    TABLE_START,
    '| variable | read by | default | allowed | meaning | chart value |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    TABLE_END,
  ].join('\n');
}

/** README.md with its table replaced by the current one. */
export function readmeWithTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${README}: the markers of the configuration table are missing`);
  return readme.slice(0, start) + configurationTable() + readme.slice(end + TABLE_END.length);
}

/** The env entry of a variable copied from a value: integers as int64 (else 1e+06), everything quoted. */
function valueEntry(name: string, setting: Setting, value: string): string {
  const int = schemaOf(setting).type === 'integer' ? ' | int64' : '';
  return `- name: ${name}\n  value: {{ .Values.${value}${int} | quote }}`;
}

/** templates/_env.generated.tpl: one `pubsub-aggregator.appEnv.<app>` per process. */
export function envTemplate(): string {
  const parts = [
    '{{/*',
    'Generated from shared/config.ts by `npm run gen:config`: do not edit; change the declarations there.',
    "The environment of each process's container, one entry per variable it reads that the chart sets.",
    'A variable built from several values comes from `pubsub-aggregator.env.<NAME>` (templates/_env.tpl),',
    'called with (dict "ctx" $ "app" <process>). Call each with the root context.',
    '*/}}',
  ];
  for (const [app, group] of Object.entries(SETTINGS) as [App, Record<string, Setting>][]) {
    const entries: string[] = [];
    for (const [name, setting] of Object.entries(group)) {
      const c = setting.chart;
      if ('none' in c) continue;
      if ('template' in c) {
        entries.push(`{{- with include "pubsub-aggregator.env.${name}" (dict "ctx" $ "app" "${app}") }}\n{{ . }}\n{{- end }}`);
      } else {
        entries.push(valueEntry(name, setting, c.value));
      }
    }
    parts.push('', `{{- define "pubsub-aggregator.appEnv.${app}" -}}`, entries.join('\n'), '{{- end }}');
  }
  return `${parts.join('\n')}\n`;
}

/** The JSON Schema keys a variable's declaration fixes for the chart value that sets it. */
function bounds(setting: Setting, minimum: number | undefined): Json {
  const schema = schemaOf(setting);
  const names = literals(setting);
  if (names) return { enum: names };
  if (schema.type === 'integer') return { type: 'integer', minimum: minimum ?? schema.minimum, maximum: schema.maximum };
  if (schema.type === 'boolean') return { type: 'boolean' };
  return {
    type: 'string',
    ...(schema.pattern ? { pattern: schema.pattern } : {}),
    ...(schema.minLength ? { minLength: schema.minLength } : {}),
  };
}

const GENERATED_KEYS = ['type', 'enum', 'minimum', 'maximum', 'oneOf'];

/** values.schema.json with the bounds of every value that sets a variable replaced by the variable's. */
export function valuesSchemaWithBounds(text: string): string {
  const root = JSON.parse(text) as Json;
  for (const { setting } of variables()) {
    const c = setting.chart;
    if (!('value' in c) || c.value === undefined) continue;
    let parent = root;
    const keys = c.value.split('.');
    for (const key of keys.slice(0, -1)) {
      const props = (parent.properties ??= {}) as Json;
      parent = (props[key] ??= { type: 'object', properties: {}, additionalProperties: false }) as Json;
    }
    const props = (parent.properties ??= {}) as Json;
    const last = keys.at(-1)!;
    const old = (props[last] ?? {}) as Json;
    const b = bounds(setting, c.minimum);
    // Keys the declaration does not fix (a description, a pattern only the chart checks) stay.
    const kept = Object.fromEntries(Object.entries(old).filter(([k]) => !GENERATED_KEYS.includes(k) && !(k in b)));
    const nullable = 'nullable' in c && c.nullable;
    props[last] = nullable ? { oneOf: [{ type: 'null' }, b], ...kept } : { ...b, ...kept };
  }
  return `${JSON.stringify(root, null, 2)}\n`;
}

/** Every generated file, by path from the repository root, as it should be now. */
export function generatedFiles(read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8')): Map<string, string> {
  return new Map([
    [README, readmeWithTable(read(README))],
    [ENV_TEMPLATE, envTemplate()],
    [VALUES_SCHEMA, valuesSchemaWithBounds(read(VALUES_SCHEMA))],
  ]);
}
