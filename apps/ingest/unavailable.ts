import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';

/** 503: a dependency is down or this replica is at a limit. Retry-After tells clients when to try again. */
export const Unavailable = Type.Object({ statusCode: Type.Literal(503), error: Type.String(), message: Type.String() });

/** Why a 503 was sent: the label of ingest_unavailable_responses_total, which alerts read. */
export type UnavailableReason = 'buffer_full' | 'broker_unavailable' | 'reads_busy' | 'body_budget' | 'dependency';

export function sendUnavailable(reply: FastifyReply, reason: UnavailableReason, message: string, retryAfterSeconds: number) {
  reply.server.metrics.unavailable.inc({ reason });
  return reply
    .code(503)
    .header('retry-after', String(retryAfterSeconds))
    .send({ statusCode: 503 as const, error: 'Service Unavailable', message });
}
