import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Prisma } from '../../../generated/prisma/client.ts';
import type { IngestConfig } from '../../../shared/config.ts';
import { TOPIC_PATTERN } from '../../../shared/event.ts';
import { QueryInteger, QueryString } from '../query-integer.ts';
import { ReadSlots } from '../read-slots.ts';
import { sendUnavailable, Unavailable } from '../unavailable.ts';

const StoredEvent = Type.Object({
  id: Type.Integer({ description: "row id (the previous service's field); use stream_seq for order and paging" }),
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
  /** Rows PostgreSQL looked at for this page (at most limit + 1), whether or not they fit the budget. */
  fetched: bigint;
}

/** An estimate of a row's size in the reply beyond its text fields: names, numbers, dates. */
const ROW_OVERHEAD_BYTES = 256;

/**
 * GET /events: stored events, newest first, as a JSON array (the previous service's shape). The next page is
 * announced the way GitHub's REST API does it, in an RFC 8288 `Link: <...>; rel="next"` header with
 * a root-relative URL (it stays right behind port-forwards and proxies), absent on the last page.
 *
 * Memory per reply is bounded twice: PostgreSQL sends only the rows that fit EVENTS_MAX_BYTES (a
 * page ends early, with a Link to the rest), so ingest never holds more than that per request; and
 * at most EVENTS_MAX_CONCURRENT reads run at once per replica, EVENTS_MAX_CONCURRENT_PER_CLIENT of
 * them for one client (more get 503 + Retry-After; read-slots.ts). Without them a few large pages
 * take ingest's memory (docs/decisions/0003-bounded-bodies-and-reads.md).
 */
const eventsRoute: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  const slots = new ReadSlots(config.EVENTS_MAX_CONCURRENT, config.EVENTS_MAX_CONCURRENT_PER_CLIENT, config.EVENTS_WRITE_TIMEOUT_MS);
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/events',
    {
      config: { scope: 'read' },
      schema: {
        querystring: QueryString({
          topic: Type.Optional(Type.String({ maxLength: 255, pattern: TOPIC_PATTERN })),
          limit: QueryInteger({ minimum: 1, maximum: 1000, default: 100 }),
          before: Type.Optional(
            QueryInteger({
              minimum: 1,
              maximum: Number.MAX_SAFE_INTEGER,
              description: 'from the Link header: events older than this stream_seq',
            }),
          ),
        }),
        response: { 200: Type.Array(StoredEvent), 503: Unavailable },
      },
    },
    async (req, reply) => {
      const refused = slots.take(req.client, reply);
      if (refused === 'replica') {
        return sendUnavailable(
          reply,
          'reads_busy',
          `${slots.reading} reads of /events are running on this replica (EVENTS_MAX_CONCURRENT); retry shortly`,
          1,
        );
      }
      if (refused === 'client') {
        return sendUnavailable(
          reply,
          'reads_busy',
          `this client has ${config.EVENTS_MAX_CONCURRENT_PER_CLIENT} reads of /events running on this replica (EVENTS_MAX_CONCURRENT_PER_CLIENT); retry shortly`,
          1,
        );
      }
      return readPage(req.query, reply);
    },
  );

  async function readPage({ topic, limit, before }: { topic?: string; limit: number; before?: number }, reply: FastifyReply) {
    const where = [...(topic ? [Prisma.sql`topic = ${topic}`] : []), ...(before ? [Prisma.sql`stream_seq < ${BigInt(before)}`] : [])];
    // One row past the page tells whether there is a next one. The running size is summed newest
    // first over sizes only (`sized` keeps no payloads), then just the rows that fit the byte budget
    // are read in full: PostgreSQL does not hold the other payloads either. The first row is always
    // sent (a single event is at most MAX_EVENT_BYTES). Prisma's DateTime keeps milliseconds; the
    // event timestamp has microseconds, so PostgreSQL formats it.
    const rows = await app.db.$queryRaw<Row[]>`
      WITH sized AS (
        SELECT stream_seq, row_number() OVER newest AS n,
               sum(coalesce(octet_length(payload::text), 4) + octet_length(topic) + octet_length(event_id)
                   + coalesce(octet_length(source), 4) + ${ROW_OVERHEAD_BYTES}) OVER (newest ROWS UNBOUNDED PRECEDING) AS running
        FROM processed_events
        ${where.length > 0 ? Prisma.sql`WHERE ${Prisma.join(where, ' AND ')}` : Prisma.empty}
        WINDOW newest AS (ORDER BY stream_seq DESC)
        ORDER BY stream_seq DESC
        LIMIT ${limit + 1}
      )
      SELECT p.id, p.topic, p.event_id, to_char(p."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts,
             p.source, p.payload, p.stream_seq, p.received_at, p.persisted_at, (SELECT count(*) FROM sized) AS fetched
      FROM sized s JOIN processed_events p ON p.stream_seq = s.stream_seq
      WHERE s.n = 1 OR s.running <= ${config.EVENTS_MAX_BYTES}
      ORDER BY p.stream_seq DESC`;
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
    if (last && Number(rows[0]?.fetched ?? 0) > page.length) {
      const next = new URLSearchParams({ ...(topic ? { topic } : {}), limit: String(limit), before: String(last.stream_seq) });
      reply.header('link', `</events?${next}>; rel="next"`);
    }
    return page;
  }
};

export default eventsRoute;
