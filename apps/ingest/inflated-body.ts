import { Readable } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';

/** 413 for a compressed body whose bytes on the wire, or once inflated, pass BODY_LIMIT_BYTES. */
export class InflatedTooLargeError extends Error {
  readonly statusCode = 413;
  readonly code = 'BODY_TOO_LARGE';
}

/** 400 for bytes that are not what their Content-Encoding says: corrupt, cut short, or raw deflate. */
export class UndecodableBodyError extends Error {
  readonly statusCode = 400;
  readonly code = 'INVALID_CONTENT_ENCODING';
}

export interface InflateOptions {
  /** BODY_LIMIT_BYTES: bounds the compressed bytes and the inflated ones alike. */
  limitBytes: number;
  /** Asked each time the body inflated further, with its inflated bytes so far: an error refuses it (the body budget). */
  admit?: (inflatedBytes: number) => Error | undefined;
}

const FORMAT = { gzip: 'gzip', deflate: 'zlib-format deflate (RFC 1950)' } as const;

/**
 * A request body in gzip or deflate, inflated as it arrives by node:zlib's streaming inflater: the
 * work runs on libuv's thread pool, one output chunk (16 KiB) at a time, so inflating a large body
 * never holds the event loop that other clients' requests need (zlib's *Sync functions would).
 *
 * The inflated size is counted while inflating, chunk by chunk: a body refused for inflating past
 * BODY_LIMIT_BYTES (or by `admit`) stops its inflater at once, having inflated at most the limit
 * plus one chunk. A 64 MiB gzip of zeros is 64 KiB on the wire. The compressed bytes are held to
 * the same limit as they arrive (a chunked body has no Content-Length to be refused on).
 *
 * A refused body is left unread: the reply closes the connection.
 */
export class InflatedBody extends Readable {
  /** Compressed bytes received: Fastify checks these against Content-Length and its bodyLimit. */
  receivedEncodedLength = 0;
  inflatedLength = 0;
  private readonly inflater: Gunzip | Inflate;
  private sourceEnded = false;

  constructor(
    private readonly source: Readable,
    private readonly coding: 'gzip' | 'deflate',
    private readonly opts: InflateOptions,
  ) {
    super();
    this.inflater = coding === 'gzip' ? createGunzip() : createInflate();
    this.inflater
      .on('data', this.onInflated)
      .on('drain', () => !this.destroyed && this.source.resume())
      .once('end', this.onInflatedEnd)
      .once('error', this.onCorrupt);
    source.on('data', this.onEncoded).once('end', this.onEncodedEnd).once('error', this.onSourceError).once('close', this.onSourceClose);
  }

  override _read(): void {
    this.inflater.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.source.off('data', this.onEncoded).off('end', this.onEncodedEnd).off('error', this.onSourceError).off('close', this.onSourceClose);
    this.source.pause();
    this.inflater.destroy();
    callback(err);
  }

  private readonly onEncoded = (chunk: Buffer) => {
    this.receivedEncodedLength += chunk.length;
    if (this.receivedEncodedLength > this.opts.limitBytes) {
      this.destroy(new InflatedTooLargeError(`the compressed body is larger than BODY_LIMIT_BYTES (${this.opts.limitBytes} bytes)`));
    } else if (!this.inflater.write(chunk)) this.source.pause();
  };

  private readonly onInflated = (chunk: Buffer) => {
    if (this.destroyed) return;
    this.inflatedLength += chunk.length;
    const refused =
      this.inflatedLength > this.opts.limitBytes
        ? new InflatedTooLargeError(
            `the body inflates to more than BODY_LIMIT_BYTES (${this.opts.limitBytes} bytes); send fewer events per request`,
          )
        : this.opts.admit?.(this.inflatedLength);
    if (refused) this.destroy(refused);
    else if (!this.push(chunk)) this.inflater.pause();
  };

  /** zlib ignores bytes after the end of a deflate stream: a body with more in it is not what it says. */
  private readonly onInflatedEnd = () => {
    if (this.inflater.bytesWritten < this.receivedEncodedLength) {
      const after = this.receivedEncodedLength - this.inflater.bytesWritten;
      this.destroy(
        new UndecodableBodyError(
          `the body is not valid ${FORMAT[this.coding]} (Content-Encoding: ${this.coding}): ${after} bytes follow the end of its compressed stream`,
        ),
      );
    } else this.push(null);
  };

  private readonly onEncodedEnd = () => {
    this.sourceEnded = true;
    this.inflater.end();
  };

  private readonly onCorrupt = (err: Error & { code?: string }) => {
    // zlib says Z_BUF_ERROR ("unexpected end of file") when the input ends inside the stream.
    const why = err.code === 'Z_BUF_ERROR' ? 'the compressed stream is cut short' : err.message;
    this.destroy(new UndecodableBodyError(`the body is not valid ${FORMAT[this.coding]} (Content-Encoding: ${this.coding}): ${why}`));
  };

  private readonly onSourceError = (err: Error) => this.destroy(err);

  /** The client went away mid-body: nothing will end the inflater. */
  private readonly onSourceClose = () => {
    if (!this.sourceEnded) this.destroy(new Error('the request body was aborted'));
  };
}
