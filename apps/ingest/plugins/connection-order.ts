import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { finished } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

/** What one keep-alive connection has going on. */
interface Connection {
  /** Settles once the reply to the latest request on this connection has left (or the connection died). */
  tail: Promise<void>;
  /** Requests of this connection not yet answered. */
  inFlight: Set<IncomingMessage>;
  /** A reply on this connection said `close`: RFC 9112 §9.6, nothing received after it is processed. */
  closing: boolean;
}

const connections = new WeakMap<Socket, Connection>();

/**
 * Whether a finished reply ended its connection: it never left whole, or it said `close` (Node's
 * own choice shows in shouldKeepAlive; a `Connection` header Fastify passed to writeHead, only in
 * the reply's own headers).
 */
const saidClose = (reply: FastifyReply) =>
  !reply.raw.writableFinished || !reply.raw.shouldKeepAlive || /\bclose\b/i.test(String(reply.getHeader('connection') ?? ''));

/**
 * Requests pipelined on one connection are processed one after the other, each once the reply
 * to the one before it has left, and not at all after a reply that closes the connection.
 *
 * Node emits a 'request' for every request it parses, as soon as it parses it, so without this the
 * requests behind a reply that says `close` (a 413 whose body was not read, a 501, a request that
 * itself said `close`) would be processed, and stored, with no reply ever sent. Waiting for the reply
 * ahead is one rule for every path that closes, present and future, instead of a fix per status.
 * The cost falls only on clients that pipeline, which get their replies in order anyway
 * (HTTP/1.1 has no other order to give them).
 *
 * Its hook must run before any other (it is registered first): a request dropped here must not
 * count against a rate limit, and `clientErrorHandler` below must find the requests in flight.
 */
export default fp(
  async (app) => {
    app.addHook('onRequest', (req, reply, done) => {
      const socket = req.raw.socket;
      let conn = connections.get(socket);
      if (!conn) {
        conn = { tail: Promise.resolve(), inFlight: new Set(), closing: false };
        connections.set(socket, conn);
      }
      const c = conn;
      const ahead = c.inFlight.size > 0 ? c.tail : undefined;
      let replied!: () => void;
      c.tail = new Promise<void>((resolve) => (replied = resolve));
      c.inFlight.add(req.raw);
      finished(reply.raw, () => {
        c.inFlight.delete(req.raw);
        if (saidClose(reply)) c.closing = true;
        replied();
      });
      const proceed = () => {
        // Node ends the connection once that reply is out; this request gets nothing, not even a
        // reply (it would be the answer to a request the client can no longer send again safely).
        if (c.closing || socket.destroyed) reply.hijack();
        done();
      };
      if (ahead) void ahead.then(proceed);
      else proceed();
    });
  },
  { name: 'connection-order' },
);

/**
 * Fastify's `clientErrorHandler`: the answer to bytes Node's HTTP parser refuses (or a request
 * that timed out). Fastify's default writes its 400 at once, ahead of the reply to a request still
 * in flight on the same connection, which a client reading replies in order takes as that
 * request's answer (a stored event answered 400). Here a parser error is answered after every
 * reply ahead of it, then the connection closes; not at all when one of them already said `close`.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request was not received in time (REQUEST_TIMEOUT_MS)']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large']
        : [400, `the request could not be parsed as HTTP/1.1 (${err.code ?? err.message})`];
  this.log.debug({ err }, 'client error');
  const answer = () => {
    const conn = connections.get(socket);
    if (conn?.closing || !socket.writable) return void socket.destroy();
    const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.destroySoon();
  };
  // A timeout is the request in flight's own answer; so is a parse error inside a body still being
  // read (that request can never complete). Otherwise the error waits for the replies ahead of it,
  // found once this turn's 'request' handlers have run.
  setImmediate(() => {
    const conn = connections.get(socket);
    const cutShort = conn && [...conn.inFlight].some((r) => !r.complete);
    if (!conn || conn.inFlight.size === 0 || status === 408 || cutShort) return answer();
    void conn.tail.then(() => setImmediate(answer));
  });
}
