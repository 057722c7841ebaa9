import fp from 'fastify-plugin';

// What a JSON API needs of helmet's headers: no sniffing, no framing, no caching, nothing to
// execute. A constant set, because @fastify/helmet rebuilds its headers on every request
// (docs/decisions/0002-ingest-publish-path.md).
const HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

export default fp(
  async (app) => {
    app.addHook('onRequest', (_req, reply, done) => {
      reply.headers(HEADERS);
      done();
    });
  },
  { name: 'security-headers' },
);
