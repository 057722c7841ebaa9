import fp from 'fastify-plugin';

/**
 * 501 for a request body in a transfer coding other than `chunked` (RFC 9112 §6.1). Node's parser
 * accepts `Transfer-Encoding: gzip, chunked` and undoes only the chunking, so the gzip coding was
 * silently ignored and the compressed bytes read as JSON. The body is not read: the reply closes
 * the connection (and plugins/connection-order.ts sees that nothing behind it is processed).
 */
export default fp(
  async (app) => {
    app.addHook('onRequest', (req, reply, done) => {
      const te = req.headers['transfer-encoding'];
      if (te === undefined) return done();
      const codings = te
        .split(',')
        .map((c) => c.trim().toLowerCase())
        .filter(Boolean);
      if (codings.every((c) => c === 'chunked')) return done();
      reply
        .code(501)
        .header('connection', 'close')
        .send({
          statusCode: 501,
          error: 'Not Implemented',
          message: `the transfer coding "${te}" is not implemented; send the body with Content-Length or Transfer-Encoding: chunked only`,
        });
    });
  },
  { name: 'transfer-coding', dependencies: ['connection-order'] },
);
