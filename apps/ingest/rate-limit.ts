import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestConfig } from '../../shared/config.ts';

// Kubelet probes and Prometheus must get through whatever clients do. Matched on the route, not
// the raw URL, so `/metrics?x` is exempt too and nothing else can pose as a probe.
const UNLIMITED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

export interface RateLimit {
  /** Whether this request counts against its client's bucket (probes and metrics never do). */
  applies(req: FastifyRequest): boolean;
  /** Counts the request against `req.client`; answers 429 and returns the reply once over the limit. */
  check(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
}

/**
 * RATE_LIMIT_MAX requests per client per RATE_LIMIT_WINDOW_MS, per replica (N replicas admit up to
 * N × RATE_LIMIT_MAX); undefined when it is off. The client is `req.client`, set before the check.
 */
export async function createRateLimit(app: FastifyInstance, config: IngestConfig): Promise<RateLimit | undefined> {
  if (config.RATE_LIMIT_MAX <= 0) return undefined;
  // `global: false`: no per-route hook of its own; the access hook calls it where it belongs.
  await app.register(rateLimit, {
    global: false,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    keyGenerator: (req) => req.client,
  });
  const limit = app.createRateLimit();
  return {
    applies: (req) => !UNLIMITED_ROUTES.has(req.routeOptions.url ?? ''),
    async check(req, reply) {
      const r = await limit(req);
      if (r.isAllowed) return undefined;
      reply.header('x-ratelimit-limit', r.max).header('x-ratelimit-remaining', r.remaining).header('x-ratelimit-reset', r.ttlInSeconds);
      if (!r.isExceeded) return undefined;
      return reply
        .code(429)
        .header('retry-after', r.ttlInSeconds)
        .send({ statusCode: 429, error: 'Too Many Requests', message: `rate limit exceeded, retry in ${r.ttlInSeconds} s` });
    },
  };
}
