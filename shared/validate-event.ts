import { Ajv, type ErrorObject } from 'ajv';
import { EventSchema, type Event } from './event.ts';
import { normaliseTimestamp } from './timestamp.ts';

export interface FieldError {
  /** Position in the request's batch; absent for a single-event request. */
  index?: number;
  /** The event field at fault, e.g. "topic" or "payload.items.0"; "" for the event itself. */
  field: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateEventSchema = ajv.compile<Event>(EventSchema);

const PRINTABLE_MESSAGE = 'must not contain control characters (U+0000-U+001F, U+007F) or an unpaired UTF-16 surrogate';

function toFieldError(e: ErrorObject, index: number | undefined): FieldError {
  let field = e.instancePath.replace(/^\//, '').replaceAll('/', '.');
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'required') {
    field = [field, e.params.missingProperty as string].filter(Boolean).join('.');
    message = 'is required';
  } else if (e.keyword === 'additionalProperties') {
    field = [field, e.params.additionalProperty as string].filter(Boolean).join('.');
    message = 'is not a known field (allowed: topic, event_id, timestamp, source, payload)';
  } else if (e.keyword === 'pattern' && field === 'topic') {
    message = 'must be dot-separated tokens of letters, digits, "_" or "-" (no "*", ">", spaces or empty tokens)';
  } else if (e.keyword === 'pattern') {
    message = PRINTABLE_MESSAGE;
  }
  return index === undefined ? { field, message } : { index, field, message };
}

/**
 * A nullable field (source) fails as a union: Ajv reports the failed branch (e.g. maxLength), the
 * "must be null" of the other branch, and the union itself. Only the first says what is wrong.
 */
const isRootCause = (e: ErrorObject) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && e.params.type === 'null');

/** What in this text PostgreSQL could not store (in jsonb or text), or undefined. */
function unstorableText(s: string): string | undefined {
  if (s.includes('\u0000')) return 'the NUL character (U+0000)';
  if (!s.isWellFormed()) return 'an unpaired UTF-16 surrogate';
  return undefined;
}

interface Fault {
  /** Keys and indexes from the payload down to the fault, built only once one is found. */
  path: Array<string | number>;
  message: string;
}

/**
 * The first place in a payload that PostgreSQL's jsonb could not store, or a JSON number that
 * parsed to ±Infinity (JSON.stringify would silently turn it into null). Payload depth is bounded
 * by the body parser (MAX_JSON_DEPTH), so the recursion is too. The path is assembled on the way
 * back up from a fault: built per key on the way down, a body of ~700,000 keys took 1.3 s here.
 */
function findUnstorable(value: unknown): Fault | undefined {
  if (typeof value === 'string') {
    const what = unstorableText(value);
    return what ? { path: [], message: `must not contain ${what}` } : undefined;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path: [], message: 'holds a number beyond the range of an IEEE double' };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i]);
      if (found) return (found.path.unshift(i), found);
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      const what = unstorableText(key);
      if (what) return { path: [], message: `has a key containing ${what}` };
      const found = findUnstorable((value as Record<string, unknown>)[key]);
      if (found) return (found.path.unshift(key), found);
    }
  }
  return undefined;
}

export type Accepted = { ok: true; event: Event } | { ok: false; errors: FieldError[] };

const at = (index: number | undefined) => (index === undefined ? {} : { index });

/** The schema's errors, or none once `value` is an Event. */
function schemaErrors(value: unknown, index: number | undefined): FieldError[] {
  if (validateEventSchema(value)) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ ...at(index), field: '', message: 'must be a JSON object' }];
  }
  return (validateEventSchema.errors ?? []).filter(isRootCause).map((e) => toFieldError(e, index));
}

/** What in a payload PostgreSQL's jsonb could not store (or JSON would turn into null), as "field message", or undefined. */
export function payloadFault(payload: unknown): string | undefined {
  const fault = findUnstorable(payload);
  return fault ? `${['payload', ...fault.path].join('.')} ${fault.message}` : undefined;
}

function payloadErrors(event: Event, index: number | undefined): FieldError[] {
  const fault = event.payload === undefined ? undefined : findUnstorable(event.payload);
  return fault ? [{ ...at(index), field: ['payload', ...fault.path].join('.'), message: fault.message }] : [];
}

/**
 * Both entry points below: the schema, then the timestamp normalised to UTC, then (for ingest) the
 * event encoded as it will travel and refused over `maxBytes` before its payload is walked, so an
 * oversized body costs one JSON.stringify rather than a walk over every key it holds.
 */
function accept(
  value: unknown,
  index: number | undefined,
  encoding?: { maxBytes: number; extra: Record<string, string> },
): { ok: true; event: Event; json?: string } | { ok: false; errors: FieldError[] } {
  const invalid = schemaErrors(value, index);
  if (invalid.length > 0) return { ok: false, errors: invalid };
  const sent = value as Event;
  const errors: FieldError[] = [];
  const timestamp = normaliseTimestamp(sent.timestamp);
  if (!timestamp.ok) errors.push({ ...at(index), field: 'timestamp', message: timestamp.message });
  const event = timestamp.ok ? { ...sent, timestamp: timestamp.value } : sent;
  const json = encoding ? JSON.stringify({ ...event, ...encoding.extra }) : undefined;
  const tooLarge = encoding && json !== undefined ? checkEncodedEvent(json, encoding.maxBytes, index) : [];
  errors.push(...(tooLarge.length > 0 ? tooLarge : payloadErrors(event, index)));
  if (errors.length > 0) return { ok: false, errors };
  return json === undefined ? { ok: true, event } : { ok: true, event, json };
}

/**
 * Validates one event and returns it as it will be published: timestamp normalised to UTC
 * (shared/timestamp.ts). Everything refused here is something a later layer could not store, so
 * nothing answered 202 is ever dead-lettered for its content.
 */
export const acceptEvent = (value: unknown, index?: number): Accepted => accept(value, index);

/** acceptEvent for ingest: also the event's encoding as it travels (with `extra`: received_at), at most `maxBytes`. */
export function acceptAndEncode(
  value: unknown,
  index: number | undefined,
  maxBytes: number,
  extra: Record<string, string>,
): { ok: true; event: Event; json: string } | { ok: false; errors: FieldError[] } {
  const accepted = accept(value, index, { maxBytes, extra });
  return accepted.ok ? { ok: true, event: accepted.event, json: accepted.json! } : accepted;
}

/** Checks an event's size as it will travel (its JSON encoding, in UTF-8 bytes). */
export function checkEncodedEvent(encoded: string, maxBytes: number, index?: number): FieldError[] {
  const bytes = Buffer.byteLength(encoded);
  if (bytes <= maxBytes) return [];
  return [{ ...at(index), field: 'payload', message: `event is ${bytes} bytes encoded; the limit is ${maxBytes}` }];
}
