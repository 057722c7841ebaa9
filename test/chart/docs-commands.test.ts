// The helm commands the docs tell an operator to run: a `--wait` without `--timeout` gives up after
// helm's default 5 minutes, which a first install (image pulls, initdb, the migration) can exceed.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helm.ts';

const files = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Every `helm install|upgrade …` of this chart in a file, with shell line continuations joined. */
function helmCommands(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8').replace(/\\\n\s*(#\s*)?/g, ' ');
  return [...text.matchAll(/helm (?:upgrade|install)\b[^`\n]*/g)].map((m) => m[0]).filter((c) => c.includes('charts/pubsub-aggregator'));
}

describe('helm commands in the docs', () => {
  it('every helm install/upgrade that waits also sets --timeout', () => {
    const waiting = files.flatMap((f) => helmCommands(f).map((c) => ({ f, c }))).filter(({ c }) => /--wait\b/.test(c));
    expect(waiting.length).toBeGreaterThanOrEqual(3);
    for (const { f, c } of waiting) expect(c, `${f}: ${c}`).toMatch(/--timeout \d+m/);
  });
});

describe('image builds in the docs', () => {
  // The migration Job runs its own image (the Dockerfile's `migrate` target, chart value
  // migration.image): a doc that builds only the app image leaves the Job unable to pull.
  it('every build of the app image comes with a build of the migrate image under the same tag', () => {
    const builds = files.flatMap((f) => {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      return [...text.matchAll(/(?:docker|minikube image) build\b[^`\n]*?-t pubsub-aggregator:(\S+)/g)].map((m) => ({
        f,
        text,
        tag: m[1]!,
      }));
    });
    expect(builds.length).toBeGreaterThanOrEqual(3);
    for (const { f, text, tag } of builds)
      expect(text, `${f} builds pubsub-aggregator:${tag} but not the migrate image`).toMatch(
        new RegExp(`build\\b[^\`\\n]*target[= ]migrate[^\`\\n]*-t pubsub-aggregator-migrate:${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
  });
});
