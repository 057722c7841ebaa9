import fp from 'fastify-plugin';
import { UnprocessableBodyError } from '../unprocessable.ts';

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

/**
 * 415 for a body sent in a content coding (gzip, br, ...): ingest reads JSON as sent. Ignoring the
 * header would refuse gzip as "not valid UTF-8" and take a body labelled br as if it were plain.
 */
export class UnsupportedContentEncodingError extends Error {
  readonly statusCode = 415;
  readonly code = 'UNSUPPORTED_CONTENT_ENCODING';
  constructor(encoding: string) {
    super(`Content-Encoding "${encoding}" is not supported; send the JSON body uncompressed`);
  }
}

/**
 * Fastify's own JSON parser (prototype-poisoning keys refused), behind a nesting-depth check: a
 * body nested thousands deep would otherwise overflow the stack in a recursive walker and turn a
 * client's mistake into a server error. A body that does not parse is a body that cannot be
 * accepted as events: 422, like the seed. Invalid UTF-8 is refused too, rather than decoded to
 * U+FFFD: two event_ids that differ only in their invalid bytes would become one event.
 */
export default fp(
  async (app) => {
    const parse = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
      const encoding = req.headers['content-encoding']?.trim();
      if (encoding && encoding.toLowerCase() !== 'identity') return done(new UnsupportedContentEncodingError(encoding), undefined);
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        return done(new UnprocessableBodyError('the body is not valid UTF-8', 'INVALID_UTF8'), undefined);
      }
      if (jsonDepth(text) > MAX_JSON_DEPTH)
        return done(new UnprocessableBodyError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, 'JSON_TOO_DEEP'), undefined);
      void parse(req, text, (err, parsed) => {
        if (!err) return done(null, parsed);
        const code = (err as { code?: string }).code ?? 'FST_ERR_CTP_INVALID_JSON_BODY';
        const message =
          code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
            ? 'the body is empty; send a JSON event or array of events'
            : `the body is not valid JSON: ${err.message}`;
        done(new UnprocessableBodyError(message, code), undefined);
      });
    });
  },
  { name: 'json-body' },
);
