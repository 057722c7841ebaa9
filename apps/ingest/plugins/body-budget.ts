import { finished } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { sendUnavailable } from '../unavailable.ts';

/** A body this small is always admitted: a single-event publisher is never refused for others' large bodies. */
const ALWAYS_ADMITTED_BYTES = 64 * 1024;

/** 503 + Retry-After: the body would take this replica past BODY_BUDGET_BYTES. */
export class BodyBudgetError extends Error {
  constructor(inFlight: number) {
    super(`this replica is reading ${inFlight} bytes of request bodies (BODY_BUDGET_BYTES); retry shortly`);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    bodyBudget: {
      /**
       * Counts `bytes` for the request's body from now on when that is more than it counted so far
       * (a compressed body as it inflates); the refusal when that would pass the budget.
       */
      grow(req: FastifyRequest, bytes: number): BodyBudgetError | undefined;
    };
  }
}

/**
 * A budget of request-body bytes in flight per replica (BODY_BUDGET_BYTES): a body is counted from
 * its headers until its reply has left (the parsed body and what it became live that long), and a
 * body that would take the total past the budget is refused before it is read, 503 + Retry-After.
 * An unknown length (chunked) counts as BODY_LIMIT_BYTES. Without it, 32 concurrent 8 MiB bodies
 * took ingest to 924 MiB of RSS and stalled every other request for seconds.
 *
 * A compressed body is counted by its Content-Length first, then by what it inflates to as it
 * inflates (apps/ingest/inflated-body.ts asks `grow`): a 60 KiB gzip that inflates to 8 MiB holds
 * 8 MiB, and is refused mid-body when that would pass the budget.
 *
 * The body is not read (or not to its end), so the reply closes the connection
 * (plugins/connection-order.ts: nothing pipelined behind it is processed).
 */
export default fp<{ config: Pick<IngestConfig, 'BODY_BUDGET_BYTES' | 'BODY_LIMIT_BYTES'> }>(
  async (app, { config }) => {
    let inFlight = 0;
    const counted = new WeakMap<FastifyRequest, number>();
    const fits = (bytes: number, more: number) => bytes <= ALWAYS_ADMITTED_BYTES || inFlight + more <= config.BODY_BUDGET_BYTES;

    app.decorate('bodyBudget', {
      grow(req: FastifyRequest, bytes: number) {
        const now = counted.get(req);
        // No entry: a request that declared no body, or one whose reply has left (released).
        if (now === undefined || bytes <= now) return undefined;
        if (!fits(bytes, bytes - now)) return new BodyBudgetError(inFlight);
        inFlight += bytes - now;
        counted.set(req, bytes);
        return undefined;
      },
    });

    app.addHook('onRequest', (req, reply, done) => {
      const declared = req.headers['content-length'];
      const bytes = declared !== undefined ? Number(declared) : req.headers['transfer-encoding'] ? config.BODY_LIMIT_BYTES : 0;
      // Over BODY_LIMIT_BYTES is refused by the body limit (413); counted as the limit meanwhile.
      const initial = Math.min(bytes, config.BODY_LIMIT_BYTES);
      if (!(initial > 0)) return done();
      if (!fits(initial, initial)) {
        reply.header('connection', 'close');
        sendUnavailable(reply, 'body_budget', new BodyBudgetError(inFlight).message, 1);
        return;
      }
      inFlight += initial;
      counted.set(req, initial);
      finished(reply.raw, () => {
        inFlight -= counted.get(req) ?? 0;
        counted.delete(req);
      });
      done();
    });
  },
  { name: 'body-budget', dependencies: ['connection-order', 'metrics'] },
);
