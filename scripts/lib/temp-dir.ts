import { rmSync } from 'node:fs';

/** Deletes a throwaway server's or stack's temp dir (data, logs). */
export function removeDir(dir: string) {
  rmSync(dir, { recursive: true, force: true });
}
