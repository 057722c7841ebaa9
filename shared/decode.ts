import { acceptEvent } from './validate-event.ts';
import type { Event } from './event.ts';

/** One stream message, decoded: what the consumer persists. */
export interface Delivery {
  seq: number;
  event: Event;
  receivedAt: Date;
  /** The message as it travels (the event plus received_at): what the consumer hands PostgreSQL. */
  json: string;
}

export type Decoded = { ok: true; delivery: Delivery } | { ok: false; reason: string };

/**
 * Decodes a stream message. Anything that does not decode into a valid event can never be stored,
 * however often it is redelivered: the caller dead-letters it.
 */
export function decodeMessage(seq: number, data: Uint8Array): Decoded {
  let parsed: unknown;
  const json = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'not a JSON object' };
  const { received_at, ...event } = parsed as Record<string, unknown>;
  const accepted = acceptEvent(event);
  if (!accepted.ok) {
    return { ok: false, reason: accepted.errors.map((e) => `${e.field || 'event'} ${e.message}`).join('; ') };
  }
  const receivedAt = new Date(typeof received_at === 'string' ? received_at : Number.NaN);
  if (Number.isNaN(receivedAt.getTime())) return { ok: false, reason: 'received_at missing or invalid' };
  return { ok: true, delivery: { seq, event: event as Event, receivedAt, json } };
}
