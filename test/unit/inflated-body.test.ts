import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { deflate, deflateRaw, gzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InflatedBody, InflatedTooLargeError, UndecodableBodyError, type InflateOptions } from '../../apps/ingest/inflated-body.ts';

const gz = promisify(gzip);
const zz = promisify(deflate);
const raw = promisify(deflateRaw);

const LIMIT = 512 * 1024;
/** A request body arriving in chunks of `size` bytes. */
const arriving = (bytes: Buffer, size = 1024) =>
  Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

/** Reads the inflated body whole: its bytes, or the error it was refused with. */
async function inflate(bytes: Buffer, coding: 'gzip' | 'deflate', opts: Partial<InflateOptions> = {}, size?: number) {
  const body = new InflatedBody(arriving(bytes, size), coding, { limitBytes: LIMIT, ...opts });
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return { body, bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { body, error: error as Error };
  }
}

describe('InflatedBody', () => {
  const json = Buffer.from(JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ topic: 't', event_id: String(i), payload: 'é€😀' }))));

  it.each([
    ['gzip', gz],
    ['deflate', zz],
  ] as const)('inflates %s exactly, whatever the chunks it arrives in, counting the bytes on the wire', async (coding, compress) => {
    const compressed = await compress(json);
    for (const size of [1, 7, 1024, 1 << 20]) {
      const { body, bytes, error } = await inflate(compressed, coding, {}, size);
      expect(error).toBeUndefined();
      expect(bytes!.equals(json)).toBe(true);
      expect(body.receivedEncodedLength).toBe(compressed.length);
      expect(body.inflatedLength).toBe(json.length);
    }
  });

  it('stops a 64 MiB gzip bomb of zeros after inflating the limit plus one chunk (413)', async () => {
    const bomb = await gz(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(128 * 1024);
    const { body, error } = await inflate(bomb, 'gzip');
    expect(error).toBeInstanceOf(InflatedTooLargeError);
    expect(error).toMatchObject({
      statusCode: 413,
      message: expect.stringMatching(/inflates to more than BODY_LIMIT_BYTES \(524288 bytes\)/),
    });
    expect(body.inflatedLength).toBeGreaterThan(LIMIT);
    expect(body.inflatedLength).toBeLessThanOrEqual(LIMIT + 16 * 1024);
  });

  it('refuses a body whose compressed bytes pass the limit, as they arrive (413)', async () => {
    const compressed = await gz(randomBytes(LIMIT + 64 * 1024));
    const { body, error } = await inflate(compressed, 'gzip');
    expect(error).toMatchObject({ statusCode: 413, message: expect.stringMatching(/compressed body is larger than BODY_LIMIT_BYTES/) });
    expect(body.receivedEncodedLength).toBeLessThanOrEqual(LIMIT + 1024);
  });

  it('refuses as soon as admit() says so, with its error (the body budget)', async () => {
    const refusal = new Error('over budget');
    const seen: number[] = [];
    const admit = (bytes: number) => (seen.push(bytes), bytes > 100_000 ? refusal : undefined);
    const { body, error } = await inflate(await gz(Buffer.alloc(LIMIT, 0x20)), 'gzip', { admit });
    expect(error).toBe(refusal);
    expect(seen.at(-1)).toBe(body.inflatedLength);
    expect(body.inflatedLength).toBeLessThanOrEqual(100_000 + 16 * 1024);
  });

  it('refuses a gzip stream cut short with a 400 naming Content-Encoding', async () => {
    const compressed = await gz(json);
    const { error } = await inflate(compressed.subarray(0, compressed.length - 20), 'gzip');
    expect(error).toBeInstanceOf(UndecodableBodyError);
    expect(error).toMatchObject({
      statusCode: 400,
      code: 'INVALID_CONTENT_ENCODING',
      message: 'the body is not valid gzip (Content-Encoding: gzip): the compressed stream is cut short',
    });
  });

  it.each([
    [
      'raw deflate (no zlib wrapper) as deflate',
      raw,
      'deflate',
      /not valid zlib-format deflate \(RFC 1950\) \(Content-Encoding: deflate\)/,
    ],
    ['zlib as gzip', zz, 'gzip', /not valid gzip \(Content-Encoding: gzip\)/],
    ['plain JSON as gzip', async (b: Buffer) => b, 'gzip', /not valid gzip/],
  ] as const)('refuses %s with a 400 naming Content-Encoding', async (_what, compress, coding, message) => {
    const { error } = await inflate(await compress(json), coding);
    expect(error).toMatchObject({ statusCode: 400, message: expect.stringMatching(message) });
  });

  it('refuses bytes after the end of a zlib stream, which zlib itself ignores', async () => {
    const { error } = await inflate(Buffer.concat([await zz(json), Buffer.from('zz')]), 'deflate');
    expect(error).toMatchObject({ statusCode: 400, message: expect.stringMatching(/2 bytes follow the end of its compressed stream/) });
  });

  it('reads a gzip body of two members whole (RFC 1952 allows several)', async () => {
    const { bytes } = await inflate(Buffer.concat([await gz(json.subarray(0, 100)), await gz(json.subarray(100))]), 'gzip');
    expect(bytes!.equals(json)).toBe(true);
  });

  it('refuses a gzip whose checksum does not match its content', async () => {
    const compressed = Buffer.from(await gz(json));
    compressed[compressed.length - 6] = compressed[compressed.length - 6]! ^ 0xff; // in the CRC-32 trailer
    const { error } = await inflate(compressed, 'gzip');
    expect(error).toMatchObject({ statusCode: 400, message: expect.stringMatching(/incorrect data check/) });
  });
});
