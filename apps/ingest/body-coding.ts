import { UnsupportedMediaError } from './unsupported-media.ts';

/** The content codings a /publish body may arrive in (RFC 9110 §8.4.1). */
export type BodyCoding = 'identity' | 'gzip' | 'deflate';

/**
 * The reply's Accept-Encoding on a 415 for a content coding (RFC 9110 §15.5.16, §12.5.3): the
 * codings a request may use. identity (no coding) is acceptable unless a listing excludes it.
 */
export const ACCEPTED_CODINGS = 'gzip, deflate';

/**
 * gzip's old name x-gzip is gzip (RFC 9110 §8.4.1.3). "deflate" is the zlib format (RFC 1950,
 * §8.4.1.2); raw deflate without the zlib wrapper, which some servers once sent as "deflate", is
 * refused as not zlib: the shippers that compress request bodies (Vector's zlib, Fluent Bit,
 * curl --compressed's peers) send gzip or real zlib, and guessing the format from its first bytes
 * would read some other body as something it is not.
 */
const CODINGS: ReadonlyMap<string, BodyCoding> = new Map([
  ['identity', 'identity'],
  ['gzip', 'gzip'],
  ['x-gzip', 'gzip'],
  ['deflate', 'deflate'],
]);

/** 415 for a body in a content coding ingest does not read; the reply lists those it does (Accept-Encoding). */
export class UnsupportedContentEncodingError extends UnsupportedMediaError {
  constructor(encoding: string, why: string) {
    super('UNSUPPORTED_CONTENT_ENCODING', `Content-Encoding "${encoding}" is not supported: ${why}`);
  }
}

/**
 * The body's content coding from its Content-Encoding header (absent or empty: identity). Codings
 * are case-insensitive. One coding at most: a stack (`gzip, gzip`, even `identity, gzip`) is
 * refused rather than undone layer by layer, since no shipper sends one and each layer would
 * multiply what a small body can inflate to. Anything ingest cannot read is refused whole (415),
 * never taken as plain JSON: a body labelled br read as sent would be garbage, or worse, valid.
 */
export function parseContentEncoding(header: string | undefined): BodyCoding | UnsupportedContentEncodingError {
  if (header === undefined) return 'identity'; // most requests: nothing to split
  // Empty list elements are allowed (RFC 9110 §5.6.1): "gzip," is gzip.
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  if (codings.length === 0) return 'identity';
  if (codings.length > 1) {
    return new UnsupportedContentEncodingError(header, `send the body in one coding at most (${ACCEPTED_CODINGS})`);
  }
  return (
    CODINGS.get(codings[0]!) ??
    new UnsupportedContentEncodingError(header.trim(), `send the body in ${ACCEPTED_CODINGS} (the zlib format), or uncompressed`)
  );
}
