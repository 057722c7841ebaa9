import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply } from 'fastify';

export type Scope = 'publish' | 'read';

/** A token list from its variable, or from the file its `*_FILE` variant names (a mounted Secret). */
export function tokenList(inline: string | undefined, file: string | undefined, name: string): string[] | undefined {
  let raw = inline;
  if (file) {
    try {
      raw = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${name}_FILE: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (raw === undefined) return undefined;
  const list = raw.split(/[\s,]+/).filter(Boolean);
  if (list.length === 0) throw new Error(`${name} is set but holds no token`);
  return list;
}

export const digest = (s: string) => createHash('sha256').update(s).digest();

export interface Token {
  digest: Buffer;
  /** Rate-limit identity: stable across restarts and replicas, and not the token itself. */
  id: string;
  scopes: Set<Scope>;
}

/** One entry per distinct token: a token in both lists is one client with both scopes. */
export function configuredTokens(lists: Record<Scope, string[] | undefined>): Token[] {
  const byDigest = new Map<string, Token>();
  for (const scope of ['publish', 'read'] as const) {
    for (const t of lists[scope] ?? []) {
      const d = digest(t);
      const hex = d.toString('hex');
      const entry = byDigest.get(hex) ?? { digest: d, id: `token:${hex.slice(0, 16)}`, scopes: new Set<Scope>() };
      entry.scopes.add(scope);
      byDigest.set(hex, entry);
    }
  }
  return [...byDigest.values()];
}

/** Compares against every configured token, in constant time per token, without early exit. */
export function findToken(candidate: Buffer, all: Token[]): Token | undefined {
  let found: Token | undefined;
  for (const t of all) {
    const same = timingSafeEqual(candidate, t.digest);
    found = same ? t : found;
  }
  return found;
}

/**
 * Answers a request whose route needs `scope` and that does not hold it: 401 without a token or
 * with an unknown one, 403 with a token valid only for the other scope. Returns undefined when the
 * request may go on.
 */
export function refuseWithoutScope(
  scope: Scope,
  hasBearer: boolean,
  token: Token | undefined,
  reply: FastifyReply,
): FastifyReply | undefined {
  if (!hasBearer) {
    return reply
      .code(401)
      .header('www-authenticate', `Bearer realm="pubsub-aggregator", scope="${scope}"`)
      .send({ statusCode: 401, error: 'Unauthorized', message: `a bearer token with the "${scope}" scope is required` });
  }
  if (token?.scopes.has(scope)) return undefined;
  if (token) {
    return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `this token lacks the "${scope}" scope` });
  }
  return reply
    .code(401)
    .header('www-authenticate', `Bearer realm="pubsub-aggregator", error="invalid_token"`)
    .send({ statusCode: 401, error: 'Unauthorized', message: 'unknown bearer token' });
}
