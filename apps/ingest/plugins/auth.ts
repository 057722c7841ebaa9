import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';

export type Scope = 'publish' | 'read';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The bearer-token scope a route needs; routes without one (health, metrics) stay open. */
    scope?: Scope;
  }
}

function tokens(inline: string | undefined, file: string | undefined, name: string): string[] | undefined {
  let raw = inline;
  if (file) {
    try {
      raw = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${name}_FILE: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (raw === undefined) return undefined;
  const list = raw.split(/[\s,]+/).filter(Boolean);
  if (list.length === 0) throw new Error(`${name} is set but holds no token`);
  return list;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares against every configured token, in constant time per token, without early exit. */
function matches(candidate: Buffer, allowed: Buffer[]): boolean {
  let found = false;
  for (const a of allowed) found = timingSafeEqual(candidate, a) || found;
  return found;
}

/**
 * Optional bearer-token access control with two scopes: publish and read. Without a token: 401;
 * with a token that is valid only for the other scope: 403. Tokens are compared as SHA-256 digests
 * (equal length, constant time) and never logged (pino redacts the header).
 */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const allowed: Record<Scope, Buffer[] | undefined> = {
      publish: tokens(config.AUTH_PUBLISH_TOKENS, config.AUTH_PUBLISH_TOKENS_FILE, 'AUTH_PUBLISH_TOKENS')?.map(digest),
      read: tokens(config.AUTH_READ_TOKENS, config.AUTH_READ_TOKENS_FILE, 'AUTH_READ_TOKENS')?.map(digest),
    };
    if (!allowed.publish && !allowed.read) return;
    app.log.info({ publish: Boolean(allowed.publish), read: Boolean(allowed.read) }, 'bearer-token auth enabled');

    app.addHook('onRequest', async (req, reply) => {
      const scope = req.routeOptions.config.scope;
      const need = scope && allowed[scope];
      if (!need) return;
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m) {
        return reply
          .code(401)
          .header('www-authenticate', `Bearer realm="pubsub-aggregator", scope="${scope}"`)
          .send({ statusCode: 401, error: 'Unauthorized', message: `a bearer token with the "${scope}" scope is required` });
      }
      const candidate = digest(m[1]!);
      if (matches(candidate, need)) return;
      const other: Scope = scope === 'publish' ? 'read' : 'publish';
      if (allowed[other] && matches(candidate, allowed[other])) {
        return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `this token lacks the "${scope}" scope` });
      }
      return reply
        .code(401)
        .header('www-authenticate', `Bearer realm="pubsub-aggregator", error="invalid_token"`)
        .send({ statusCode: 401, error: 'Unauthorized', message: 'unknown bearer token' });
    });
  },
  { name: 'auth' },
);
