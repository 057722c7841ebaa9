import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';
import { Transform } from 'node:stream';
import { BodyScan, type ScanLimits } from '../body-scan.ts';
import { UnprocessableBodyError } from '../unprocessable.ts';

export const NOT_EVENTS = 'the body must be a JSON event, an array of events, or {"events": [...]}';
/** secure-json-parse's message for a `__proto__` or `constructor.prototype` key. */
const FORBIDDEN_KEY = /forbidden prototype property/;

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
 * drops the reason and says only "not valid JSON"), behind a scan of the body as it arrives
 * (body-scan.ts): nesting depth (a body nested thousands deep would overflow the stack in a
 * recursive walker), batch size and event size are refused before anything is parsed, so a body
 * costs what its events can cost. A body that does not parse is a body that cannot be
 * accepted as events: 422, like the seed. Invalid UTF-8 is refused too, rather than decoded to
 * U+FFFD: two event_ids that differ only in their invalid bytes would become one event.
 */
/** A refused body with at most this much left is read to its end (see the preParsing hook). */
const READ_ON_AFTER_REFUSAL_BYTES = 64 * 1024;

export default fp<{ limits: ScanLimits }>(
  async (app, { limits }) => {
    app.addHook('preParsing', async (req, _reply, payload) => {
      const encoding = req.headers['content-encoding']?.trim().toLowerCase();
      if (encoding && encoding !== 'identity') return payload; // refused whole by the parser (415)
      const scan = new BodyScan(limits);
      const declared = Number(req.headers['content-length'] ?? NaN);
      let received = 0;
      let refused: UnprocessableBodyError | undefined;
      // Once refused, a body with little left is read to its end and dropped: refused then, it
      // leaves the connection open for the requests pipelined behind it. With more left (or an
      // unknown length) it is refused at once and the connection closes: reading 8 MiB only to drop
      // it was most of what 32 such senders cost the event loop.
      return payload.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, callback) {
            received += chunk.length;
            if (!refused) {
              refused = scan.push(chunk);
              if (refused && !(declared - received <= READ_ON_AFTER_REFUSAL_BYTES)) {
                return callback(Object.assign(refused, { bodyUnread: true }));
              }
            }
            callback(null, refused ? undefined : chunk);
          },
          flush(callback) {
            callback(refused);
          },
        }),
      );
    });
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
