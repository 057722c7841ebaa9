import { normalizeIP } from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { configuredTokens, digest, findToken, refuseWithoutScope, tokenList, type Scope } from '../bearer-tokens.ts';
import { createRateLimit } from '../rate-limit.ts';

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

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Who the client is, then its rate limit (rate-limit.ts), then its bearer token's scope
 * (bearer-tokens.ts): one hook, in that order, so failed logins are limited like any other request.
 * A request counts against the token's identity once its token matches a configured one, else
 * against its address (behind a proxy, X-Forwarded-For only as far as TRUST_PROXY allows):
 * spelling the header differently or guessing tokens never earns a fresh bucket. The same identity
 * (req.client) is /events' per-client key. Tokens are compared as SHA-256 digests (equal length,
 * constant time), hashed once per request for both uses, and never logged (pino redacts the header).
 */
export default fp<{ config: IngestConfig }>(
  async (app, { config }) => {
    const lists: Record<Scope, string[] | undefined> = {
      publish: tokenList(config.AUTH_PUBLISH_TOKENS, config.AUTH_PUBLISH_TOKENS_FILE, 'AUTH_PUBLISH_TOKENS'),
      read: tokenList(config.AUTH_READ_TOKENS, config.AUTH_READ_TOKENS_FILE, 'AUTH_READ_TOKENS'),
    };
    const guarded: Record<Scope, boolean> = { publish: Boolean(lists.publish), read: Boolean(lists.read) };
    const known = configuredTokens(lists);
    if (known.length > 0) app.log.info(guarded, 'bearer-token auth enabled');
    const rateLimit = await createRateLimit(app, config);
    app.decorateRequest('client', '');

    app.addHook('onRequest', async (req, reply) => {
      const scope = req.routeOptions.config.scope;
      const needsToken = scope !== undefined && guarded[scope];
      const limited = rateLimit !== undefined && rateLimit.applies(req);
      // Reads need to know their client (routes/events.ts: one client's share of the slots).
      if (!needsToken && !limited && scope !== 'read') return;
      const bearer = known.length > 0 ? BEARER.exec(req.headers.authorization ?? '') : null;
      const token = bearer ? findToken(digest(bearer[1]!), known) : undefined;
      // normalizeIP folds an IPv6 client's /64 into one key, as the rate limit's own default does.
      req.client = token ? token.id : normalizeIP(req.ip);

      if (limited) {
        const refused = await rateLimit.check(req, reply);
        if (refused) return refused;
      }
      if (needsToken) return refuseWithoutScope(scope, bearer !== null, token, reply);
    });
  },
  { name: 'client-access' },
);
