import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';
import { UnprocessableBodyError } from '../unprocessable.ts';

export const NOT_EVENTS = 'the body must be a JSON event, an array of events, or {"events": [...]}';
/** secure-json-parse's message for a `__proto__` or `constructor.prototype` key. */
const FORBIDDEN_KEY = /forbidden prototype property/;

/** Deeper than any real event; deep enough nesting overflows the recursive JSON walkers. */
export const MAX_JSON_DEPTH = 64;

/** Deepest bracket nesting outside strings: one linear pass, no recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

/** 415 raised by the body parser, once the whole body was read. */
export class UnsupportedMediaError extends Error {
  readonly statusCode = 415;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * 415 for a body sent in a content coding (gzip, br, ...): ingest reads JSON as sent. Ignoring the
 * header would refuse gzip as "not valid UTF-8" and take a body labelled br as if it were plain.
 */
export class UnsupportedContentEncodingError extends UnsupportedMediaError {
  constructor(encoding: string) {
    super('UNSUPPORTED_CONTENT_ENCODING', `Content-Encoding "${encoding}" is not supported; send the JSON body uncompressed`);
  }
}

/** JSON is UTF-8 (RFC 8259 §8.1): a body labelled UTF-16 or Latin-1 would be decoded as UTF-8 and mangled. */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;
const UTF8 = /^utf-?8$/i;

/**
 * JSON with prototype-poisoning keys refused (secure-json-parse, as in Fastify's own parser, which
 * drops the reason and says only "not valid JSON"), behind a nesting-depth check: a body nested
 * thousands deep would otherwise overflow the stack in a recursive walker and turn a client's
 * mistake into a server error. A body that does not parse is a body that cannot be
 * accepted as events: 422, like the seed. Invalid UTF-8 is refused too, rather than decoded to
 * U+FFFD: two event_ids that differ only in their invalid bytes would become one event.
 */
export default fp(
  async (app) => {
    app.removeContentTypeParser('application/json');
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
      const encoding = req.headers['content-encoding']?.trim();
      if (encoding && encoding.toLowerCase() !== 'identity') return done(new UnsupportedContentEncodingError(encoding), undefined);
      const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1];
      if (charset !== undefined && !UTF8.test(charset)) {
        return done(
          new UnsupportedMediaError('UNSUPPORTED_CHARSET', `charset "${charset}" is not supported; send JSON in UTF-8`),
          undefined,
        );
      }
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        return done(new UnprocessableBodyError('the body is not valid UTF-8', 'INVALID_UTF8'), undefined);
      }
      if (jsonDepth(text) > MAX_JSON_DEPTH)
        return done(new UnprocessableBodyError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, 'JSON_TOO_DEEP'), undefined);
      if (text.trim() === '') {
        return done(
          new UnprocessableBodyError('the body is empty; send a JSON event or array of events', 'FST_ERR_CTP_EMPTY_JSON_BODY'),
          undefined,
        );
      }
      let parsed: unknown;
      try {
        parsed = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
      } catch (err) {
        const message = FORBIDDEN_KEY.test((err as Error).message)
          ? 'the body holds a "__proto__" key or a "constructor" object with a "prototype" key (the payload included): ' +
            'refused, as keys that could alter object prototypes'
          : `the body is not valid JSON: ${(err as Error).message}`;
        return done(new UnprocessableBodyError(message, 'FST_ERR_CTP_INVALID_JSON_BODY'), undefined);
      }
      // Refused here, before schema validation: Fastify's Ajv coerces a scalar into an array of
      // one, and `5` would be answered as a batch whose events[0] is invalid.
      if (typeof parsed !== 'object' || parsed === null) return done(new UnprocessableBodyError(NOT_EVENTS, 'NOT_EVENTS'), undefined);
      done(null, parsed);
    });
  },
  { name: 'json-body' },
);
