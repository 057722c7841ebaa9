import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';

/** 503: a dependency is down or this replica is at a limit. Retry-After tells clients when to try again. */
export const Unavailable = Type.Object({ statusCode: Type.Literal(503), error: Type.String(), message: Type.String() });

export function sendUnavailable(reply: FastifyReply, message: string, retryAfterSeconds: number) {
  return reply
    .code(503)
    .header('retry-after', String(retryAfterSeconds))
    .send({ statusCode: 503 as const, error: 'Service Unavailable', message });
}
