import { UnprocessableBodyError } from './unprocessable.ts';

/** Deeper than any real event; deep enough nesting overflows the recursive JSON walkers. */
export const MAX_JSON_DEPTH = 64;

export interface ScanLimits {
  maxBatchSize: number;
  maxEventBytes: number;
}

// Bytes outside strings that survive re-encoding one for one (see BodyScan).
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** `"source":null` is dropped when an event is accepted: the one thing re-encoding removes. */
const DROPPED_BYTES = 16;
const EVENTS_KEY = Buffer.from('events');

/**
 * A body's JSON checked as it arrives, chunk by chunk, before anything is parsed: what a body of
 * events can never be is refused in one pass over its bytes, without building a single object, so
 * large invalid bodies cannot exhaust ingest's memory or stall other requests while being parsed
 * (docs/decisions/0003-bounded-bodies-and-reads.md).
 *
 * Refused (422, as the parser's own refusals):
 * - nesting deeper than MAX_JSON_DEPTH;
 * - a batch (the root array, or the root object's "events" array) of more than maxBatchSize events;
 * - an event that cannot fit maxEventBytes once encoded. Re-encoding keeps every bracket, brace,
 *   comma, colon and string quote outside strings one for one (it drops whitespace, shortens escapes
 *   and numbers, and adds received_at), so an event whose text has more of those than
 *   maxEventBytes (plus a `"source":null` it may drop) is too large whatever its payload: this
 *   bounds what any one event, and so any body, costs to parse.
 *
 * UTF-8 is scanned as bytes: quotes and backslashes never occur inside a multi-byte sequence.
 */
export class BodyScan {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private root = 0;
  /** Depth of the batch array's elements (1: the root array; 2: the root object's "events"), 0 when none. */
  private batchDepth = 0;
  private events = 0;
  /** Structural bytes of the event being read. */
  private eventBytes = 0;
  /** The last string at depth 1 of a root object (a key), up to 6 bytes, to spot "events". */
  private key: number[] = [];
  private keyIsEvents = false;
  /** Offset of the chunk being scanned in the body. */
  private offset = 0;
  /** Structural bytes of the whole body (what its one event is made of, when it is one). */
  private allBytes = 0;
  /** Members of a root object (colons at depth 1). */
  private rootKeys = 0;
  /** Bytes outside strings that no JSON around a batch holds: the batch is then parsed whole (and refused). */
  private stray = false;
  /** The root value is over: only whitespace may follow. */
  private closed = false;
  /** Offsets of the batch's `[`, its top-level commas and its `]` (see batch()). */
  private readonly bounds: number[] = [];
  private readonly maxStructural: number;

  constructor(private readonly limits: ScanLimits) {
    this.maxStructural = limits.maxEventBytes + DROPPED_BYTES;
  }

  /** Scans the next chunk; returns the refusal as soon as the body breaks a rule. */
  push(chunk: Uint8Array): UnprocessableBodyError | undefined {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.closed) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        return new UnprocessableBodyError('the body is not valid JSON: data after the end of its value', 'FST_ERR_CTP_INVALID_JSON_BODY');
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.depth === 1 && this.root === OPEN_OBJECT) this.keyIsEvents = Buffer.compare(Buffer.from(this.key), EVENTS_KEY) === 0;
        } else if (this.depth === 1 && this.key.length <= EVENTS_KEY.length) this.key.push(c);
        continue;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          this.key = [];
          this.eventBytes += 2;
          break;
        case OPEN_ARRAY:
        case OPEN_OBJECT:
          if (this.depth === 0) this.root = c;
          if (++this.depth > MAX_JSON_DEPTH)
            return new UnprocessableBodyError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, 'JSON_TOO_DEEP');
          if (this.batchDepth === 0) {
            if (this.depth === 1 && c === OPEN_ARRAY) this.batchDepth = 1;
            else if (this.depth === 2 && c === OPEN_ARRAY && this.keyIsEvents) this.batchDepth = 2;
            if (this.batchDepth !== 0) {
              this.eventBytes = 0;
              this.bounds.push(this.offset + i);
            }
          }
          if (this.depth > this.batchDepth && this.batchDepth !== 0 && this.depth === this.batchDepth + 1 && this.events === 0)
            this.events = 1;
          this.eventBytes++;
          break;
        case CLOSE_ARRAY:
        case CLOSE_OBJECT:
          if (this.depth === this.batchDepth) {
            this.batchDepth = -1; // the batch is over
            this.bounds.push(this.offset + i);
          }
          if (--this.depth === 0) this.closed = true;
          this.eventBytes++;
          break;
        case COMMA:
          if (this.depth === this.batchDepth) {
            if (++this.events > this.limits.maxBatchSize) {
              return new UnprocessableBodyError(
                `the batch has more than ${this.limits.maxBatchSize} events; the limit is ${this.limits.maxBatchSize}`,
                'INVALID_BATCH',
                [{ field: 'events', message: `must hold at most ${this.limits.maxBatchSize} events` }],
              );
            }
            this.eventBytes = 0;
            this.bounds.push(this.offset + i);
            continue;
          }
          this.eventBytes++;
          break;
        case COLON:
          if (this.depth === 1) this.rootKeys++;
          this.eventBytes++;
          break;
        default:
          if (this.events === 0 && this.batchDepth > 0 && this.depth === this.batchDepth && c > 0x20) this.events = 1;
          if (c > 0x20 && (this.depth === 0 || (this.depth === 1 && this.root === OPEN_OBJECT))) this.stray = true;
          continue;
      }
      this.allBytes += c === QUOTE ? 2 : 1;
      if (this.eventBytes > this.maxStructural) {
        const index = this.batchDepth > 0 && this.depth > this.batchDepth ? Math.max(0, this.events - 1) : undefined;
        return new UnprocessableBodyError(
          `${index === undefined ? 'the event' : `events[${index}]`} cannot fit MAX_EVENT_BYTES (${this.limits.maxEventBytes}) once encoded: it has more than that many brackets, commas, colons and quotes`,
          'EVENT_TOO_LARGE',
          [
            {
              ...(index === undefined ? {} : { index }),
              field: 'payload',
              message: `must be at most ${this.limits.maxEventBytes} bytes encoded`,
            },
          ],
        );
      }
    }
    this.offset += chunk.length;
    return undefined;
  }

  /** At the end of the body: a value cut short is refused here, before anything parses it. */
  end(): UnprocessableBodyError | undefined {
    if (this.depth !== 0 || this.inString) {
      return new UnprocessableBodyError('the body is not valid JSON: it ends inside a value', 'FST_ERR_CTP_INVALID_JSON_BODY');
    }
    // A root object with "events" and other members: an event with an unknown "events" field when
    // one of them is "topic", else a batch whose other members are ignored. Which, only a parse of
    // the whole body can tell; so it is held to one event's size (a batch is sent as an array or
    // as {"events": [...]} alone).
    if (this.root === OPEN_OBJECT && this.rootKeys > 1 && this.allBytes > this.maxStructural) {
      return new UnprocessableBodyError(
        `the event cannot fit MAX_EVENT_BYTES (${this.limits.maxEventBytes}) once encoded (a batch with other members than "events" is read as one)`,
        'EVENT_TOO_LARGE',
        [{ field: 'payload', message: `must be at most ${this.limits.maxEventBytes} bytes encoded` }],
      );
    }
    return undefined;
  }

  /**
   * Where the events of a batch start and end, once the body is scanned whole: the offsets of its
   * `[`, top-level commas and `]`, for a root array or a root object whose only member is "events".
   */
  batch(): readonly number[] | undefined {
    const whole = this.closed && this.batchDepth === -1 && !this.stray;
    return whole && (this.root === OPEN_ARRAY || this.rootKeys === 1) ? this.bounds : undefined;
  }
}
