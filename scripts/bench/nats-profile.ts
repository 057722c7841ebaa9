// --profile: nats-server's own CPU profile, next to the V8 profiles of the apps.
import { writeFileSync } from 'node:fs';

export const NATS_PROFILE_SECONDS = 5;

/** nats-server's CPU profile (its pprof endpoint) of the next NATS_PROFILE_SECONDS, saved to `file`. */
export async function profileNats(port: number, file: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/debug/pprof/profile?seconds=${NATS_PROFILE_SECONDS}`);
  if (!res.ok) throw new Error(`nats-server profile: HTTP ${res.status}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  console.error(`[bench] nats-server profile: ${file} (go tool pprof -top ${file})`);
}
