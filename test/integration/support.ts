import { startLocalStack, type LocalStack } from '../../scripts/lib/stack.ts';

export type TestStack = LocalStack;

/**
 * nats-servers the integration tests run against: 1, or a 3-node JetStream cluster with streams
 * replicated 3 times when TEST_NATS_NODES=3 (`npm run test:nats-cluster`).
 */
export const TEST_NATS_NODES = Number(process.env.TEST_NATS_NODES ?? 1);

/** A throwaway stack (scripts/lib/stack.ts) whose apps are SIGKILLed at the end: tests are quick. */
export const startTestStack = (env: Record<string, string> = {}, postgresSettings?: Record<string, string>): Promise<TestStack> =>
  startLocalStack(
    { SHUTDOWN_TIMEOUT_MS: '10000', ...env },
    { stopSignal: 'SIGKILL', natsNodes: TEST_NATS_NODES, postgresSettings, appLogs: 'files' },
  );

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
}
