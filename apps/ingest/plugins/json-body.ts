import { Transform, type Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BatchText } from '../batch-text.ts';
import { parseContentEncoding } from '../body-coding.ts';
import { BodyScan, type ScanLimits } from '../body-scan.ts';
import { InflatedBody } from '../inflated-body.ts';
import { decodeUtf8, parseJson } from '../json-text.ts';
import { UnprocessableBodyError } from '../unprocessable.ts';
import { UnsupportedMediaError } from '../unsupported-media.ts';

export const NOT_EVENTS = 'the body must be a JSON event, an array of events, or {"events": [...]}';

/** JSON is UTF-8 (RFC 8259 §8.1): a body labelled UTF-16 or Latin-1 would be decoded as UTF-8 and mangled. */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;
const UTF8 = /^utf-?8$/i;

/** A refused body with at most this much left is read to its end (see the preParsing hook). */
const READ_ON_AFTER_REFUSAL_BYTES = 64 * 1024;
/** A batch larger than this is handed to the route unparsed, its events parsed one at a time (batch-text.ts). */
const LAZY_BATCH_BYTES = 64 * 1024;
/**
 * An uncompressed body declared at most this long is scanned whole once read, not as it arrives:
 * refused, it would be read to its end anyway (READ_ON_AFTER_REFUSAL_BYTES), so the answer is the
 * same, without a Transform stream piped per request, which cost ingest about a sixth of its CPU
 * per single-event request (bench/RESULTS.md). Its parse still waits for the scan.
 */
const SCANNED_WHOLE_BYTES = READ_ON_AFTER_REFUSAL_BYTES;

/** Each request body's scan, for the parser. */
const scans = new WeakMap<FastifyRequest, BodyScan>();

/**
 * JSON bodies, inflated first when they come in gzip or deflate (inflated-body.ts: bounded by
 * BODY_LIMIT_BYTES and the body budget as they inflate), then scanned as they arrive
 * (body-scan.ts): nesting depth (a body nested thousands deep would overflow the stack in a
 * recursive walker), batch size, an event's size and JSON cut short are refused before anything is
 * parsed, so a body costs what its events can cost. Then parsed
 * (json-text.ts: UTF-8, prototype-poisoning keys refused), or, for a large batch, handed to the
 * route as a BatchText whose events it parses one at a time. A body that does not parse cannot be
 * accepted as events: 422, like the previous service.
 */
export default fp<{ limits: ScanLimits; bodyLimitBytes: number }>(
  async (app, { limits, bodyLimitBytes }) => {
    app.addHook('preParsing', async (req, _reply, payload) => {
      const coding = parseContentEncoding(req.headers['content-encoding']);
      if (typeof coding !== 'string') return payload; // refused whole by the parser (415)
      const declared = Number(req.headers['content-length'] ?? NaN);
      // Scanned whole by the parser once read: see SCANNED_WHOLE_BYTES.
      if (coding === 'identity' && declared <= SCANNED_WHOLE_BYTES) return payload;
      let body: Readable | undefined;
      const scan = new BodyScan(limits);
      scans.set(req, scan);
      let received = 0;
      // What is left unread is counted in the bytes on the wire, compressed or not.
      const unread = () => declared - (body instanceof InflatedBody ? body.receivedEncodedLength : received);
      let refused: UnprocessableBodyError | undefined;
      // Once refused, a body with little left is read to its end and dropped: refused then, it
      // leaves the connection open for the requests pipelined behind it. With more left (or an
      // unknown length) it is refused at once and the connection closes, because reading a large
      // body only to drop it is what such senders cost the event loop.
      const scanned = new Transform({
        transform(chunk: Buffer, _enc, callback) {
          received += chunk.length;
          if (!refused) {
            refused = scan.push(chunk);
            if (refused && !(unread() <= READ_ON_AFTER_REFUSAL_BYTES)) {
              return callback(Object.assign(refused, { bodyUnread: true }));
            }
          }
          callback(null, refused ? undefined : chunk);
        },
        flush(callback) {
          callback(refused ?? scan.end());
        },
      });
      // The body flows into the scan only once Fastify reads `scanned` (its 'data' listener resumes
      // it, its 'error' listener already in place): a refusal raised before Fastify listened would
      // reach no one, and the request would wait for an 'end' that never comes. Fastify reads only
      // when the route takes a body, after its own checks (Content-Length over the limit: 413 unread).
      scanned.once('resume', () => {
        body =
          coding === 'identity'
            ? payload
            : new InflatedBody(payload, coding, { limitBytes: bodyLimitBytes, admit: (bytes) => app.bodyBudget.grow(req, bytes) });
        // The inflater's refusals (413, 400, 503) are the body's: pipe() does not pass errors on.
        if (body instanceof InflatedBody) body.once('error', (err) => scanned.destroy(err));
        body.pipe(scanned);
      });
      // An 'error' without a listener would end the process.
      scanned.on('error', () => {});
      if (coding !== 'identity') {
        // Fastify checks the bytes on the wire against Content-Length and bodyLimit with this.
        Object.defineProperty(scanned, 'receivedEncodedLength', {
          get: () => (body instanceof InflatedBody ? body.receivedEncodedLength : 0),
        });
      }
      return scanned;
    });
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
      const coding = parseContentEncoding(req.headers['content-encoding']);
      if (typeof coding !== 'string') return done(coding, undefined);
      const buffer = body as Buffer;
      let scan = scans.get(req);
      if (!scan) {
        scan = new BodyScan(limits);
        const refused = scan.push(buffer) ?? scan.end();
        if (refused) return done(refused, undefined);
      }
      const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1];
      if (charset !== undefined && !UTF8.test(charset)) {
        return done(
          new UnsupportedMediaError('UNSUPPORTED_CHARSET', `charset "${charset}" is not supported; send JSON in UTF-8`),
          undefined,
        );
      }
      const bounds = scan.batch();
      if (bounds && buffer.length > LAZY_BATCH_BYTES) return done(null, new BatchText(buffer, bounds));
      let parsed: unknown;
      try {
        const text = decodeUtf8(buffer);
        if (text.trim() === '') {
          throw new UnprocessableBodyError('the body is empty; send a JSON event or array of events', 'FST_ERR_CTP_EMPTY_JSON_BODY');
        }
        parsed = parseJson(text);
      } catch (err) {
        return done(err as Error, undefined);
      }
      // Refused here, before schema validation: Fastify's Ajv coerces a scalar into an array of
      // one, and `5` would be answered as a batch whose events[0] is invalid.
      if (typeof parsed !== 'object' || parsed === null) return done(new UnprocessableBodyError(NOT_EVENTS, 'NOT_EVENTS'), undefined);
      done(null, parsed);
    });
  },
  { name: 'json-body', dependencies: ['body-budget'] },
);
