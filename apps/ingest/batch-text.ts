import { decodeUtf8, parseJson } from './json-text.ts';

const BLANK = /^[\s]*$/;

/**
 * A large batch not yet parsed: its bytes and where its events start and end (found by the body
 * scan, body-scan.ts). POST /publish parses, checks and encodes one event at a time, dropping each
 * parsed event before the next, and lets other requests run between them: parsing the batch whole
 * held every event's objects at once (an 8 MiB batch of payloads of empty arrays: ~200 MiB of heap)
 * and the event loop for up to a second.
 *
 * The events are cut at the batch's own commas, outside strings: every slice is whole UTF-8.
 */
export class BatchText {
  constructor(
    private readonly body: Buffer,
    /** Offsets of the batch's `[`, its top-level commas, and its `]`. */
    private readonly bounds: readonly number[],
  ) {}

  get length(): number {
    if (this.bounds.length === 2 && BLANK.test(this.text(0))) return 0;
    return this.bounds.length - 1;
  }

  /** Event `i`, parsed; throws the parser's 422 for invalid UTF-8 or JSON. */
  event(i: number): unknown {
    return parseJson(this.text(i));
  }

  private text(i: number): string {
    return decodeUtf8(this.body.subarray(this.bounds[i]! + 1, this.bounds[i + 1]));
  }
}
