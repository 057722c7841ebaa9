import { STATUS_CODES } from 'node:http';
import fp from 'fastify-plugin';
import { BufferFullError, PublishUnavailableError } from '../event-publisher.ts';
import { ACCEPTED_CODINGS, UnsupportedContentEncodingError } from '../body-coding.ts';
import { BodyBudgetError } from './body-budget.ts';
import { NOT_EVENTS } from './json-body.ts';
import { UnsupportedMediaError } from '../unsupported-media.ts';
import { sendUnavailable } from '../unavailable.ts';
import { UnprocessableBodyError } from '../unprocessable.ts';

const RETRY_AFTER_SECONDS = 2;
/** A full buffer drains at the consumer's pace: asking again within a second or two only adds load. */
const BUFFER_FULL_RETRY_AFTER_SECONDS = 5;

/**
 * Every error answers JSON a human can act on, never a stack trace. Infrastructure faults
 * (JetStream, PostgreSQL) answer 503 with Retry-After, never 500, so clients know to retry.
 */
export default fp(
  async (app) => {
    // Asked of the router, not collected by an onRoute hook: routes registered before this plugin
    // (GET /metrics) would be missing, and answered 404 without Allow.
    const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
    app.setNotFoundHandler(async (req, reply) => {
      const path = req.url.split('?')[0] ?? '';
      const allowed = METHODS.filter((method) => app.hasRoute({ method, url: path }));
      if (allowed.length > 0) {
        return reply
          .code(405)
          .header('allow', allowed.join(', '))
          .send({
            statusCode: 405,
            error: 'Method Not Allowed',
            message: `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}`,
          });
      }
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${path}` });
    });

    app.setErrorHandler(async (err, req, reply) => {
      if (err instanceof BufferFullError) {
        // Back-pressure, not a fault: logged at debug (a full buffer refuses every request).
        req.log.debug({ err: err.message }, 'event buffer full; answering 503');
        return sendUnavailable(
          reply,
          'buffer_full',
          'the event buffer is full (events are accepted faster than they are stored, or PostgreSQL is down); nothing is lost by retrying the same request later',
          BUFFER_FULL_RETRY_AFTER_SECONDS,
        );
      }
      if (err instanceof PublishUnavailableError) {
        app.metrics.publishFailures.inc();
        req.log.warn({ err: err.message }, 'publish failed; answering 503');
        return sendUnavailable(
          reply,
          'broker_unavailable',
          'the event stream is unavailable; nothing is lost by retrying the same request',
          RETRY_AFTER_SECONDS,
        );
      }
      if (err instanceof BodyBudgetError) {
        // A compressed body that inflated past the budget, refused mid-body: the connection closes.
        return sendUnavailable(reply, 'body_budget', err.message, 1);
      }
      const e = err as { statusCode?: number; code?: string; message: string; validationContext?: string };
      // A body that parsed but is not an event or a list of events (a string, a number, null).
      const unprocessable =
        err instanceof UnprocessableBodyError
          ? err
          : e.code === 'FST_ERR_VALIDATION' && e.validationContext === 'body'
            ? new UnprocessableBodyError(NOT_EVENTS, e.code)
            : undefined;
      if (unprocessable) {
        // Fastify asks to close the connection after any body-parser error, in case the client is
        // still sending; ours are raised only once the whole body was read. Closing would drop the
        // replies to requests pipelined behind this one, which were processed (and maybe stored).
        // Except a body refused by the scan with much of it still unread (plugins/json-body.ts).
        if (!(err as { bodyUnread?: boolean }).bodyUnread) reply.removeHeader('connection');
        const { code, message, errors } = unprocessable;
        return reply.code(422).send({ statusCode: 422, code, error: STATUS_CODES[422], message, errors });
      }
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : undefined;
      if (status) {
        // RFC 9110 §15.5.16: say which content codings would have been accepted.
        if (err instanceof UnsupportedContentEncodingError) reply.header('accept-encoding', ACCEPTED_CODINGS);
        // Refused by our body parser, so read whole, like a 422: the connection can carry on.
        if (err instanceof UnsupportedMediaError) reply.removeHeader('connection');
        const message = e.code === 'FST_ERR_VALIDATION' ? e.message.replace(/^(body|querystring)\/?/, '$1 ') : e.message;
        return reply.code(status).send({ statusCode: status, code: e.code, error: STATUS_CODES[status] ?? 'Client Error', message });
      }
      // Anything else here is a dependency failing (PostgreSQL down during a read, NATS timing out).
      req.log.error({ err }, 'request failed');
      return sendUnavailable(reply, 'dependency', 'a dependency (PostgreSQL or NATS) is unavailable; retry shortly', RETRY_AFTER_SECONDS);
    });
  },
  { name: 'errors', dependencies: ['metrics'] },
);
