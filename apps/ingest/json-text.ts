import secureJson from 'secure-json-parse';
import { UnprocessableBodyError } from './unprocessable.ts';

/** secure-json-parse's message for a `__proto__` or `constructor.prototype` key. */
const FORBIDDEN_KEY = /forbidden prototype property/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 to text, refusing invalid bytes rather than decoding them to U+FFFD: two event_ids that
 * differ only in their invalid bytes would become one event.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new UnprocessableBodyError('the body is not valid UTF-8', 'INVALID_UTF8');
  }
}

/**
 * JSON with prototype-poisoning keys refused (secure-json-parse, as in Fastify's own parser, which
 * drops the reason and says only "not valid JSON"). Malformed JSON is a body that cannot be
 * accepted as events: 422, like the previous service.
 */
export function parseJson(text: string): unknown {
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    const message = FORBIDDEN_KEY.test((err as Error).message)
      ? 'the body holds a "__proto__" key or a "constructor" object with a "prototype" key (the payload included): ' +
        'refused, as keys that could alter object prototypes'
      : `the body is not valid JSON: ${(err as Error).message}`;
    throw new UnprocessableBodyError(message, 'FST_ERR_CTP_INVALID_JSON_BODY');
  }
}
