import { Type, type Static } from 'typebox';

// The wire format of one event. Topics become NATS subjects (`events.<topic>`), so they are held
// to subject-safe tokens: no wildcards (`*`, `>`), no spaces, no empty tokens.
export const TOPIC_PATTERN = '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$';

export const EventSchema = Type.Object(
  {
    topic: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: TOPIC_PATTERN,
      description: 'dot-separated tokens of [A-Za-z0-9_-], e.g. "orders.created"',
    }),
    event_id: Type.String({ minLength: 1, maxLength: 255, description: 'unique within the topic; a UUID is recommended' }),
    timestamp: Type.String({ format: 'date-time', maxLength: 64, description: 'RFC 3339 with a UTC offset' }),
    source: Type.Optional(Type.String({ maxLength: 255 })),
    payload: Type.Optional(Type.Unknown({ description: 'any JSON value' })),
  },
  { additionalProperties: false, $id: 'Event' },
);
export type Event = Static<typeof EventSchema>;

/** What travels on the stream: the event as accepted, plus when ingest accepted it. */
export type StreamEvent = Event & { received_at: string };

export const SUBJECT_PREFIX = 'events';
export const subjectFor = (topic: string) => `${SUBJECT_PREFIX}.${topic}`;
/** The broker's dedup key; the database's is UNIQUE(topic, event_id): the same identity. */
export const msgIdFor = (e: Pick<Event, 'topic' | 'event_id'>) => `${e.topic}:${e.event_id}`;
