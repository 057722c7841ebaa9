import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { resolveCommit } from '../../scripts/bench/against.ts';

// The build itself (a worktree, npm ci, npm run build: minutes) is exercised by running
// `npm run bench -- --against REF`; what decides which build a ref gets is checked here.
describe('bench --against refs (scripts/bench/against.ts)', () => {
  const repo = process.cwd();
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();

  it('resolves a ref to the full commit hash that keys the cached build', () => {
    expect(resolveCommit(repo, 'HEAD')).toBe(git('rev-parse', 'HEAD'));
    expect(resolveCommit(repo, 'HEAD~1')).toBe(git('rev-parse', 'HEAD~1'));
    expect(resolveCommit(repo, git('rev-parse', '--short', 'HEAD'))).toMatch(/^[0-9a-f]{40}$/);
  });

  it('refuses a ref that names no commit, naming the ref', () => {
    expect(() => resolveCommit(repo, 'no-such-branch-anywhere')).toThrow(/--against no-such-branch-anywhere: no such commit/);
    expect(() => resolveCommit(repo, 'HEAD^{tree}')).toThrow(/no such commit/);
  });
});
