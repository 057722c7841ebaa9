import { setImmediate } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { IngestConfig } from '../../../shared/config.ts';
import { acceptAndEncode, type FieldError } from '../../../shared/validate-event.ts';
import { BatchText } from '../batch-text.ts';
import type { EncodedEvent } from '../event-publisher.ts';
import { Unprocessable, UnprocessableBodyError } from '../unprocessable.ts';

const Accepted = Type.Object({
  status: Type.Literal('queued'),
  id: Type.Optional(Type.String({ description: 'event_id, for a single-event request' })),
  accepted: Type.Integer({ description: 'events now stored by JetStream' }),
  duplicates: Type.Integer({ description: 'of those, how many JetStream already had (dedup window)' }),
});

/**
 * At most this many field errors in a 422: a body of 150,000 unknown fields would otherwise be
 * answered with megabytes of errors (and, spread into one push, overflowed the stack: a 503).
 */
const MAX_LISTED_ERRORS = 100;

/** The event loop is let go after this long spent on one large batch's events. */
const LAZY_TURN_MS = 4;

/**
 * POST /publish takes one event, a JSON array of events, or {"events": [...]}. A batch is all or
 * nothing: one invalid event and nothing is published (422, as the previous service and FastAPI clients
 * expect). 202 only after JetStream acknowledged every event of the request.
 */
const publishRoute: FastifyPluginAsync<{ config: IngestConfig }> = async (app, { config }) => {
  app.post(
    '/publish',
    {
      config: { scope: 'publish' },
      schema: {
        // The shape of each event is checked per index below, so a batch's errors name the index.
        body: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Array(Type.Unknown())]),
        response: { 202: Accepted, 422: Unprocessable },
      },
    },
    async (req, reply) => {
      const body = req.body;
      // A large batch arrives unparsed (BatchText): its events are parsed one at a time below.
      const lazy = body instanceof BatchText ? body : undefined;
      const single = !lazy && !Array.isArray(body) && !(isObject(body) && 'events' in body && !('topic' in body));
      const items: unknown = lazy ? undefined : single ? [body] : Array.isArray(body) ? body : (body as { events: unknown }).events;
      if (!lazy && !Array.isArray(items)) throw invalidBatch('"events" must be an array of events', 'must be an array');
      const count = lazy ? lazy.length : (items as unknown[]).length;
      if (count === 0) throw invalidBatch('the batch is empty', 'must hold at least one event');
      if (count > config.MAX_BATCH_SIZE) {
        throw invalidBatch(
          `the batch has ${count} events; the limit is ${config.MAX_BATCH_SIZE}`,
          `must hold at most ${config.MAX_BATCH_SIZE} events`,
        );
      }

      const extra = { received_at: new Date().toISOString() };
      const errors: FieldError[] = [];
      let errorCount = 0;
      let invalidEvents = 0;
      const encoded: EncodedEvent[] = [];
      let turn = performance.now();
      for (let i = 0; i < count; i++) {
        const index = single ? undefined : i;
        const accepted = acceptAndEncode(lazy ? lazy.event(i) : (items as unknown[])[i], index, config.MAX_EVENT_BYTES, extra);
        // Only the identity is kept beside the encoding: the parsed payload goes as soon as it is encoded.
        if (accepted.ok) encoded.push({ event: { topic: accepted.event.topic, event_id: accepted.event.event_id }, json: accepted.json });
        else {
          invalidEvents++;
          errorCount += accepted.errors.length;
          for (const e of accepted.errors) if (errors.length < MAX_LISTED_ERRORS) errors.push(e);
        }
        // Other requests run between the events of a large batch.
        if (lazy && performance.now() - turn > LAZY_TURN_MS) {
          await setImmediate();
          turn = performance.now();
        }
      }
      if (errorCount > 0) {
        app.metrics.rejected.inc(count);
        const what = single ? 'the event is invalid' : `${invalidEvents} of ${count} events are invalid; nothing was published`;
        const unlisted = errorCount - errors.length;
        throw new UnprocessableBodyError(
          `${what}: ${errors.slice(0, 3).map(describe).join('; ')}${errorCount > 3 ? '; …' : ''}` +
            (unlisted > 0 ? ` (${errorCount} errors; the first ${errors.length} are listed)` : ''),
          'INVALID_EVENTS',
          errors,
        );
      }

      const newTopics = app.topicLimit.admit(encoded.map((e) => e.event.topic));
      if (newTopics.length > 0) {
        app.metrics.topicsRefused.inc();
        app.metrics.rejected.inc(count);
        const fresh = new Set(newTopics);
        const why = `is a new topic, and the limit of ${config.MAX_TOPICS} distinct topics (MAX_TOPICS) is reached`;
        const topicErrors: FieldError[] = [];
        encoded.forEach(({ event }, i) => {
          if (fresh.has(event.topic) && topicErrors.length < MAX_LISTED_ERRORS) {
            topicErrors.push({ ...(single ? {} : { index: i }), field: 'topic', message: why });
          }
        });
        throw new UnprocessableBodyError(`topic "${newTopics[0]}" ${why}; nothing was published`, 'TOPIC_LIMIT', topicErrors);
      }

      const started = performance.now();
      const result = await app.eventPublisher.publish(encoded);
      app.metrics.publishDuration.observe((performance.now() - started) / 1000);
      app.metrics.accepted.inc(result.accepted);
      app.metrics.brokerDuplicates.inc(result.duplicates);
      return reply.code(202).send({
        status: 'queued' as const,
        ...(single ? { id: encoded[0]!.event.event_id } : {}),
        ...result,
      });
    },
  );
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (e: FieldError) => `${e.index === undefined ? '' : `events[${e.index}].`}${e.field || 'event'} ${e.message}`;
const invalidBatch = (message: string, why: string) =>
  new UnprocessableBodyError(message, 'INVALID_BATCH', [{ field: 'events', message: why }]);

export default publishRoute;
