import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Prisma } from '../../../generated/prisma/client.ts';
import { TOPIC_PATTERN } from '../../../shared/event.ts';

const StoredEvent = Type.Object({
  id: Type.Integer({ description: 'row id (the seed\'s field); use stream_seq for order and paging' }),
  topic: Type.String(),
  event_id: Type.String(),
  timestamp: Type.String({ description: 'RFC 3339 in UTC (Z), microseconds when not zero' }),
  source: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Unknown(),
  stream_seq: Type.Integer({ description: 'JetStream sequence: the order in which events were accepted' }),
  received_at: Type.String(),
  persisted_at: Type.String(),
});

interface Row {
  id: bigint;
  topic: string;
  event_id: string;
  ts: string;
  source: string | null;
  payload: unknown;
  stream_seq: bigint;
  received_at: Date;
  persisted_at: Date;
}

/**
 * GET /events: stored events, newest first, as a JSON array (the seed's shape). The next page is
 * announced the way GitHub's REST API does it, in an RFC 8288 `Link: <...>; rel="next"` header with
 * a root-relative URL (it stays right behind port-forwards and proxies), absent on the last page.
 */
const eventsRoute: FastifyPluginAsync = async (app) => {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/events',
    {
      config: { scope: 'read' },
      schema: {
        querystring: Type.Object(
          {
            topic: Type.Optional(Type.String({ maxLength: 255, pattern: TOPIC_PATTERN })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'from the Link header: events older than this stream_seq' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(StoredEvent) },
      },
    },
    async (req, reply) => {
      const { topic, limit, before } = req.query;
      const where = [
        ...(topic ? [Prisma.sql`topic = ${topic}`] : []),
        ...(before ? [Prisma.sql`stream_seq < ${BigInt(before)}`] : []),
      ];
      // Prisma's DateTime keeps milliseconds; the event timestamp has microseconds, so PostgreSQL
      // formats it. One row past the page tells whether there is a next one.
      const rows = await app.db.$queryRaw<Row[]>`
        SELECT id, topic, event_id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts,
               source, payload, stream_seq, received_at, persisted_at
        FROM processed_events
        ${where.length > 0 ? Prisma.sql`WHERE ${Prisma.join(where, ' AND ')}` : Prisma.empty}
        ORDER BY stream_seq DESC
        LIMIT ${limit + 1}`;
      const page = rows.slice(0, limit).map((r) => ({
        id: Number(r.id),
        topic: r.topic,
        event_id: r.event_id,
        timestamp: `${r.ts.replace(/\.000000$/, '')}Z`,
        source: r.source,
        payload: r.payload ?? null,
        stream_seq: Number(r.stream_seq),
        received_at: r.received_at.toISOString(),
        persisted_at: r.persisted_at.toISOString(),
      }));
      const last = page.at(-1);
      if (rows.length > limit && last) {
        const next = new URLSearchParams({ ...(topic ? { topic } : {}), limit: String(limit), before: String(last.stream_seq) });
        reply.header('link', `</events?${next}>; rel="next"`);
      }
      return page;
    },
  );
};

export default eventsRoute;
