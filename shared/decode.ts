import { payloadFault } from './validate-event.ts';
import { EventSchema, MAX_TEXT_LENGTH, PRINTABLE_TEXT_PATTERN, TOPIC_PATTERN, type Event } from './event.ts';

/** One stream message, decoded: what the consumer persists. */
export interface Delivery {
  seq: number;
  /** The event's identity: what the batch is sorted and de-duplicated by. */
  event: Pick<Event, 'topic' | 'event_id'>;
  receivedAt: Date;
  /** The message as it travels (the event plus received_at): what the consumer hands PostgreSQL. */
  json: string;
}

export type Decoded = { ok: true; delivery: Delivery } | { ok: false; reason: string };

const TOPIC = new RegExp(TOPIC_PATTERN);
const PRINTABLE = new RegExp(PRINTABLE_TEXT_PATTERN, 'u');
/** The one form ingest publishes timestamps in (shared/timestamp.ts): UTC, at most microseconds. */
const PUBLISHED_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
/** The event's fields, and the time ingest accepted it. */
const MESSAGE_KEYS = new Set([...Object.keys(EventSchema.properties), 'received_at']);

type Parsed = { ok: true; json: string; message: Record<string, unknown> } | { ok: false; reason: string };

function parse(data: Uint8Array): Parsed {
  const json = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let message: unknown;
  try {
    message = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return { ok: false, reason: 'not a JSON object' };
  return { ok: true, json, message: message as Record<string, unknown> };
}

/** At most MAX_TEXT_LENGTH characters as ingest's schema counts them (ajv: code points, not UTF-16 units). */
const withinMax = (s: string) => s.length <= MAX_TEXT_LENGTH || (s.length <= 2 * MAX_TEXT_LENGTH && [...s].length <= MAX_TEXT_LENGTH);
const storableText = (v: unknown): v is string => typeof v === 'string' && withinMax(v) && PRINTABLE.test(v);

/** Why this message is not what ingest publishes, or undefined. */
function fault(m: Record<string, unknown>): string | undefined {
  for (const key in m) if (!MESSAGE_KEYS.has(key)) return `${key} is not a known field`;
  const { topic, event_id, timestamp, source, payload } = m;
  if (typeof topic !== 'string' || !withinMax(topic) || !TOPIC.test(topic)) return 'topic missing or not a valid topic';
  if (!storableText(event_id) || event_id === '') return 'event_id missing, empty, over 255 characters or not printable';
  if (typeof timestamp !== 'string' || !PUBLISHED_TIMESTAMP.test(timestamp))
    return 'timestamp missing or not in UTC as ingest publishes it';
  if (source !== undefined && source !== null && !storableText(source)) return 'source not a printable string of at most 255 characters';
  return payload === undefined ? undefined : payloadFault(payload);
}

function delivery(seq: number, json: string, m: Record<string, unknown>): Decoded {
  const receivedAt = new Date(typeof m.received_at === 'string' ? m.received_at : Number.NaN);
  if (Number.isNaN(receivedAt.getTime())) return { ok: false, reason: 'received_at missing or invalid' };
  return { ok: true, delivery: { seq, event: { topic: m.topic as string, event_id: m.event_id as string }, receivedAt, json } };
}

/**
 * The consumer's decoding: is this message what ingest publishes (shared/validate-event.ts), checked
 * without normalising anything again. Ingest validated the event and wrote it in its one stored form
 * before JetStream took it; checking it here is the guard against anything else that publishes on
 * the stream (the `admin` NATS user, a NATS without authorisation), so that PostgreSQL never stores
 * a message differently from what ingest would have stored. The same rules as ingest's schema, in
 * hand-written checks, and the timestamp held to the published form instead of parsed and
 * normalised: ingest's full check, run again, was ~13% of the consumer's CPU.
 * What does not decode can never be stored, however often it is redelivered: the consumer
 * dead-letters it at once, and the dead-letter tool does not replay it.
 */
export function decodeDelivery(seq: number, data: Uint8Array): Decoded {
  const parsed = parse(data);
  if (!parsed.ok) return parsed;
  const why = fault(parsed.message);
  return why ? { ok: false, reason: why } : delivery(seq, parsed.json, parsed.message);
}
