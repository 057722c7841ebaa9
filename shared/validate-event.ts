import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { EventSchema, type Event } from './event.ts';

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module namespace.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export interface FieldError {
  /** Position in the request's batch; absent for a single-event request. */
  index?: number;
  /** The event field at fault, e.g. "topic" or "payload.items"; "" for the event itself. */
  field: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv, ['date-time']);
const validateEventSchema = ajv.compile<Event>(EventSchema);

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
  } else if (e.keyword === 'format') {
    message = 'must be an RFC 3339 date-time with a UTC offset, e.g. 2026-01-01T12:00:00Z';
  }
  return index === undefined ? { field, message } : { index, field, message };
}

/** Validates one event against the schema; returns the errors (empty when valid). */
export function validateEvent(value: unknown, index?: number): FieldError[] {
  const at = index === undefined ? {} : { index };
  if (!validateEventSchema(value)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return [{ ...at, field: '', message: 'must be a JSON object' }];
    }
    return (validateEventSchema.errors ?? []).map((e) => toFieldError(e, index));
  }
  if (Number.isNaN(Date.parse(value.timestamp))) return [{ ...at, field: 'timestamp', message: 'is not a valid date' }];
  return [];
}

// An escaped NUL that is not itself the tail of an escaped backslash.
const ENCODED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/**
 * Checks an event as it will travel (its JSON encoding): the size limit, and no U+0000 anywhere,
 * which PostgreSQL rejects in text and jsonb; accepting it would make the event unstorable after
 * its 202.
 */
export function checkEncodedEvent(encoded: string, maxBytes: number, index?: number): FieldError[] {
  const at = index === undefined ? {} : { index };
  const bytes = Buffer.byteLength(encoded);
  if (bytes > maxBytes) return [{ ...at, field: 'payload', message: `event is ${bytes} bytes encoded; the limit is ${maxBytes}` }];
  if (ENCODED_NUL.test(encoded)) return [{ ...at, field: '', message: 'must not contain the NUL character (\\u0000)' }];
  return [];
}
