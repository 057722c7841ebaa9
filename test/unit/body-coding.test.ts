import { describe, expect, it } from 'vitest';
import { ACCEPTED_CODINGS, parseContentEncoding, UnsupportedContentEncodingError } from '../../apps/ingest/body-coding.ts';

describe('parseContentEncoding', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    [' ', 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    ['GZip', 'gzip'],
    [' gzip ', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['Deflate', 'deflate'],
    // Empty list elements are allowed (RFC 9110 §5.6.1).
    ['gzip,', 'gzip'],
    [', deflate', 'deflate'],
  ])('reads %j as %s', (header, coding) => {
    expect(parseContentEncoding(header)).toBe(coding);
  });

  it.each([
    ['br', /Content-Encoding "br" is not supported: send the body in gzip, deflate/],
    ['zstd', /"zstd"/],
    ['compress', /"compress"/],
    ['x-unknown', /"x-unknown"/],
    // Names an object's prototype members would answer to, were the codings looked up in one.
    ['__proto__', /"__proto__"/],
    ['constructor', /"constructor"/],
    ['identity, gzip', /"identity, gzip" is not supported: send the body in one coding at most/],
    ['gzip, gzip', /one coding at most/],
    ['identity, br', /one coding at most/],
    ['gzip;q=1', /"gzip;q=1"/],
  ])('refuses %j with a 415 that names it', (header, message) => {
    const refused = parseContentEncoding(header);
    expect(refused).toBeInstanceOf(UnsupportedContentEncodingError);
    expect(refused).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_CONTENT_ENCODING', message: expect.stringMatching(message) });
  });

  it('lists, for Accept-Encoding, exactly the codings it reads', () => {
    for (const coding of ACCEPTED_CODINGS.split(', ')) expect(parseContentEncoding(coding)).toBe(coding);
  });
});
