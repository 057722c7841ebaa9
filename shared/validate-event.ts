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

/**
 * The first place in a payload that PostgreSQL's jsonb could not store, or a JSON number that
 * parsed to ±Infinity (JSON.stringify would silently turn it into null). Payload depth is bounded
 * by the body parser (MAX_JSON_DEPTH), so the recursion is too.
 */
function findUnstorable(value: unknown, path: string): { field: string; message: string } | undefined {
  if (typeof value === 'string') {
    const what = unstorableText(value);
    return what ? { field: path, message: `must not contain ${what}` } : undefined;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { field: path, message: 'holds a number beyond the range of an IEEE double' };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], `${path}.${i}`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const what = unstorableText(key);
      if (what) return { field: path, message: `has a key containing ${what}` };
      const found = findUnstorable(v, `${path}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

export type Accepted = { ok: true; event: Event } | { ok: false; errors: FieldError[] };

/**
 * Validates one event and returns it as it will be published: timestamp normalised to UTC
 * (shared/timestamp.ts). Everything refused here is something a later layer could not store, so
 * nothing answered 202 is ever dead-lettered for its content.
 */
export function acceptEvent(value: unknown, index?: number): Accepted {
  const at = index === undefined ? {} : { index };
  if (!validateEventSchema(value)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, errors: [{ ...at, field: '', message: 'must be a JSON object' }] };
    }
    return { ok: false, errors: (validateEventSchema.errors ?? []).filter(isRootCause).map((e) => toFieldError(e, index)) };
  }
  const errors: FieldError[] = [];
  const timestamp = normaliseTimestamp(value.timestamp);
  if (!timestamp.ok) errors.push({ ...at, field: 'timestamp', message: timestamp.message });
  const payloadFault = value.payload === undefined ? undefined : findUnstorable(value.payload, 'payload');
  if (payloadFault) errors.push({ ...at, ...payloadFault });
  if (errors.length > 0 || !timestamp.ok) return { ok: false, errors };
  return { ok: true, event: { ...value, timestamp: timestamp.value } };
}

/** Checks an event's size as it will travel (its JSON encoding, in UTF-8 bytes). */
export function checkEncodedEvent(encoded: string, maxBytes: number, index?: number): FieldError[] {
  const bytes = Buffer.byteLength(encoded);
  if (bytes <= maxBytes) return [];
  return [
    { ...(index === undefined ? {} : { index }), field: 'payload', message: `event is ${bytes} bytes encoded; the limit is ${maxBytes}` },
  ];
}
