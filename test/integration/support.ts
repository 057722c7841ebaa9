import { startLocalStack, type LocalStack } from '../../scripts/lib/services.ts';

export type TestStack = LocalStack;

/** A throwaway stack (scripts/lib/services.ts) whose apps are SIGKILLed at the end: tests are quick. */
export const startTestStack = (env: Record<string, string> = {}, postgresSettings?: Record<string, string>): Promise<TestStack> =>
  startLocalStack({ SHUTDOWN_TIMEOUT_MS: '10000', ...env }, { stopSignal: 'SIGKILL', postgresSettings });

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
}
