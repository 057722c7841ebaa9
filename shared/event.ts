import { hash } from 'node:crypto';
import { Type, type Static } from 'typebox';

// The wire format of one event. Topics become NATS subjects (`events.<topic>`), so they are held
// to subject-safe tokens: no wildcards (`*`, `>`), no spaces, no empty tokens.
export const TOPIC_PATTERN = '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$';
// No control characters (they cannot travel in a NATS header or a log line unescaped) and no
// unpaired UTF-16 surrogate (PostgreSQL cannot store one). Ajv compiles patterns with the `u` flag,
// where \p{Cs} matches exactly the unpaired surrogates.
export const PRINTABLE_TEXT_PATTERN = '^[^\\u0000-\\u001F\\u007F\\p{Cs}]*$';
/** The longest topic, event_id and source, in characters (code points, as ajv counts them). */
export const MAX_TEXT_LENGTH = 255;

export const EventSchema = Type.Object(
  {
    topic: Type.String({
      minLength: 1,
      maxLength: MAX_TEXT_LENGTH,
      pattern: TOPIC_PATTERN,
      description: 'dot-separated tokens of [A-Za-z0-9_-], e.g. "orders.created"',
    }),
    event_id: Type.String({
      minLength: 1,
      maxLength: MAX_TEXT_LENGTH,
      pattern: PRINTABLE_TEXT_PATTERN,
      description: 'unique within the topic; a UUID is recommended',
    }),
    // Checked and normalised by shared/timestamp.ts (the rules are more than a format keyword says).
    timestamp: Type.String({ maxLength: 64, description: 'RFC 3339 date-time; no offset means UTC' }),
    // null as well as absent: the previous service (pydantic's Optional[str]) took both, and its publishers send it.
    source: Type.Optional(Type.Union([Type.String({ maxLength: MAX_TEXT_LENGTH, pattern: PRINTABLE_TEXT_PATTERN }), Type.Null()])),
    payload: Type.Optional(Type.Unknown({ description: 'any JSON value' })),
  },
  { additionalProperties: false, $id: 'Event' },
);
export type Event = Static<typeof EventSchema>;

export const SUBJECT_PREFIX = 'events';
export const subjectFor = (topic: string) => `${SUBJECT_PREFIX}.${topic}`;
/**
 * The broker's dedup key; the database's is UNIQUE(topic, event_id): the same identity. A digest
 * rather than the id itself, because header values do not survive byte-exact (the NATS client trims
 * them, so `"order-42 "` would collide with `"order-42"`), and a digest has a fixed length whatever
 * the event_id holds. The JSON array makes the (topic, event_id) pair unambiguous.
 */
export const msgIdFor = (e: Pick<Event, 'topic' | 'event_id'>) =>
  // The one-shot hash: half the CPU of createHash().update().digest() for these short inputs.
  hash('sha256', JSON.stringify([e.topic, e.event_id]), 'base64url');
