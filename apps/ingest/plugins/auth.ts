import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';

export type Scope = 'publish' | 'read';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The bearer-token scope a route needs; routes without one (health, metrics) stay open. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /**
     * Who this request is, for the rate limit and /events' per-client share: a configured token's
     * identity when the request carries one, else its address (see the hook below). Set for every
     * route with a scope or a rate limit.
     */
    client: string;
  }
}

function tokens(inline: string | undefined, file: string | undefined, name: string): string[] | undefined {
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

const digest = (s: string) => createHash('sha256').update(s).digest();

interface Token {
  digest: Buffer;
  /** Rate-limit identity: stable across restarts and replicas, and not the token itself. */
  id: string;
  scopes: Set<Scope>;
}

/** One entry per distinct token: a token in both lists is one client with both scopes. */
function configuredTokens(lists: Record<Scope, string[] | undefined>): Token[] {
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
function find(candidate: Buffer, all: Token[]): Token | undefined {
  let found: Token | undefined;
  for (const t of all) {
    const same = timingSafeEqual(candidate, t.digest);
    found = same ? t : found;
  }
  return found;
}

// Kubelet probes and Prometheus must get through whatever clients do. Matched on the route, not
// the raw URL, so `/metrics?x` is exempt too and nothing else can pose as a probe.
const UNLIMITED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Rate limiting, then optional bearer-token access control, in one hook and in that order, so
 * failed logins are limited like any other request. A request counts against the token's
 * identity once its token matches a configured one, else against its address (behind a proxy,
 * X-Forwarded-For only as far as TRUST_PROXY allows): spelling the header differently or
 * guessing tokens never earns a fresh bucket. Per client, per replica: N replicas admit up to
 * N × RATE_LIMIT_MAX. The same identity (req.client) is /events' per-client key.
 *
 * Two scopes: publish and read. Without a token: 401; with a token valid only for the other scope:
 * 403. Tokens are compared as SHA-256 digests (equal length, constant time), hashed once per
 * request for both uses, and never logged (pino redacts the header).
 */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const lists: Record<Scope, string[] | undefined> = {
      publish: tokens(config.AUTH_PUBLISH_TOKENS, config.AUTH_PUBLISH_TOKENS_FILE, 'AUTH_PUBLISH_TOKENS'),
      read: tokens(config.AUTH_READ_TOKENS, config.AUTH_READ_TOKENS_FILE, 'AUTH_READ_TOKENS'),
    };
    const guarded: Record<Scope, boolean> = { publish: Boolean(lists.publish), read: Boolean(lists.read) };
    const known = configuredTokens(lists);
    if (known.length > 0) app.log.info(guarded, 'bearer-token auth enabled');

    let limit: ReturnType<typeof app.createRateLimit> | undefined;
    if (config.RATE_LIMIT_MAX > 0) {
      // `global: false`: no per-route hook of its own; the hook below calls it where it belongs.
      await app.register(rateLimit, {
        global: false,
        max: config.RATE_LIMIT_MAX,
        timeWindow: config.RATE_LIMIT_WINDOW_MS,
        keyGenerator: (req) => req.client,
      });
      limit = app.createRateLimit();
    }
    app.decorateRequest('client', '');

    app.addHook('onRequest', async (req, reply) => {
      const scope = req.routeOptions.config.scope;
      const needsToken = scope !== undefined && guarded[scope];
      const limited = limit !== undefined && !UNLIMITED_ROUTES.has(req.routeOptions.url ?? '');
      // Reads need to know their client (routes/events.ts: one client's share of the slots).
      if (!needsToken && !limited && scope !== 'read') return;
      const bearer = known.length > 0 ? BEARER.exec(req.headers.authorization ?? '') : null;
      const token = bearer ? find(digest(bearer[1]!), known) : undefined;
      // normalizeIP folds an IPv6 client's /64 into one key, as the rate limit's own default does.
      req.client = token ? token.id : normalizeIP(req.ip);

      if (limited) {
        const r = await limit!(req);
        if (!r.isAllowed) {
          reply.header('x-ratelimit-limit', r.max).header('x-ratelimit-remaining', r.remaining).header('x-ratelimit-reset', r.ttlInSeconds);
          if (r.isExceeded) {
            return reply
              .code(429)
              .header('retry-after', r.ttlInSeconds)
              .send({ statusCode: 429, error: 'Too Many Requests', message: `rate limit exceeded, retry in ${r.ttlInSeconds} s` });
          }
        }
      }

      if (!needsToken) return;
      if (!bearer) {
        return reply
          .code(401)
          .header('www-authenticate', `Bearer realm="pubsub-aggregator", scope="${scope}"`)
          .send({ statusCode: 401, error: 'Unauthorized', message: `a bearer token with the "${scope}" scope is required` });
      }
      if (token?.scopes.has(scope)) return;
      if (token) {
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
