// The floor mode's server (scripts/lib/floor-server.ts) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pollUntil } from '../../load/poll.ts';
import { NODE_FLAGS } from '../lib/apps.ts';
import { freePort } from '../lib/ports.ts';

/** The floor server with the apps' V8 flags, publishing to `natsUrl`; killed if it does not come up. */
export async function startFloorServer(natsUrl: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', path.join(import.meta.dirname, '../lib/floor-server.ts')], {
    env: { ...process.env, PORT: String(port), NATS_URL: natsUrl },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await pollUntil(async () => (await fetch(url)).ok, Boolean, { what: `floor server on ${url}`, timeoutMs: 30_000 }).catch((err: Error) => {
    proc.kill();
    throw err;
  });
  return { url, proc };
}
