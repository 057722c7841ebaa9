import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { TOPIC_PATTERN } from '../../../shared/event.ts';

const StoredEvent = Type.Object({
  topic: Type.String(),
  event_id: Type.String(),
  timestamp: Type.String(),
  source: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Unknown(),
  stream_seq: Type.Integer({ description: 'JetStream sequence: the order in which events were accepted' }),
  received_at: Type.String(),
  persisted_at: Type.String(),
});

/** GET /events: stored events, newest first, paged with an opaque-enough cursor (stream sequence). */
const eventsRoute: FastifyPluginAsync = async (app) => {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/events',
    {
      config: { scope: 'read' },
      schema: {
        querystring: Type.Object(
          {
            topic: Type.Optional(Type.String({ maxLength: 255, pattern: TOPIC_PATTERN })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'next_before of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            events: Type.Array(StoredEvent),
            count: Type.Integer(),
            next_before: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as ?before= for the next page' }),
          }),
        },
      },
    },
    async (req) => {
      const { topic, limit, before } = req.query;
      const rows = await app.db.processedEvent.findMany({
        where: { ...(topic ? { topic } : {}), ...(before ? { streamSeq: { lt: BigInt(before) } } : {}) },
        orderBy: { streamSeq: 'desc' },
        take: limit,
      });
      const events = rows.map((r) => ({
        topic: r.topic,
        event_id: r.eventId,
        timestamp: r.timestamp.toISOString(),
        source: r.source,
        payload: r.payload ?? null,
        stream_seq: Number(r.streamSeq),
        received_at: r.receivedAt.toISOString(),
        persisted_at: r.persistedAt.toISOString(),
      }));
      const last = events.at(-1);
      return { events, count: events.length, next_before: events.length === limit && last ? last.stream_seq : null };
    },
  );
};

export default eventsRoute;
