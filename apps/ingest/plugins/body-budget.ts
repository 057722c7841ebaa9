import { finished } from 'node:stream';
import fp from 'fastify-plugin';
import type { IngestConfig } from '../../../shared/config.ts';
import { sendUnavailable } from '../unavailable.ts';

/** A body this small is always admitted: a single-event publisher is never refused for others' large bodies. */
const ALWAYS_ADMITTED_BYTES = 64 * 1024;

/**
 * A budget of request-body bytes in flight per replica (BODY_BUDGET_BYTES): a body is counted from
 * its headers until its reply has left (the parsed body and what it became live that long), and a
 * body that would take the total past the budget is refused before it is read, 503 + Retry-After.
 * An unknown length (chunked) counts as BODY_LIMIT_BYTES. Without it, 32 concurrent 8 MiB bodies
 * took ingest to 924 MiB of RSS and stalled every other request for seconds.
 *
 * The body is not read, so the reply closes the connection (plugins/connection-order.ts: nothing
 * pipelined behind it is processed).
 */
export default fp<{ config: Pick<IngestConfig, 'BODY_BUDGET_BYTES' | 'BODY_LIMIT_BYTES'> }>(
  async (app, { config }) => {
    let inFlight = 0;
    app.addHook('onRequest', async (req, reply) => {
      const declared = req.headers['content-length'];
      const bytes = declared !== undefined ? Number(declared) : req.headers['transfer-encoding'] ? config.BODY_LIMIT_BYTES : 0;
      // Over BODY_LIMIT_BYTES is refused by the body limit (413); counted as the limit meanwhile.
      const counted = Math.min(bytes, config.BODY_LIMIT_BYTES);
      if (!(counted > 0)) return;
      if (counted > ALWAYS_ADMITTED_BYTES && inFlight + counted > config.BODY_BUDGET_BYTES) {
        reply.header('connection', 'close');
        return sendUnavailable(
          reply,
          'body_budget',
          `this replica is reading ${inFlight} bytes of request bodies (BODY_BUDGET_BYTES); retry shortly`,
          1,
        );
      }
      inFlight += counted;
      finished(reply.raw, () => (inFlight -= counted));
    });
  },
  { name: 'body-budget', dependencies: ['connection-order', 'metrics'] },
);
