/**
 * An incremental JSON checker for request bodies: fed chunk by chunk as they arrive, it checks
 * that the body is one well-formed JSON object nested at most `maxDepth` levels, without building
 * anything. JSON.parse of a 10 MB body of 5 M nested arrays held the event loop for 9-16 s and
 * blocked every tenant (issue 7); here each chunk costs O(its length), and a body nested too deep
 * is refused at the first byte past the limit.
 *
 * It also finds the byte span of the top-level "model" string, so that the unified endpoint can
 * rewrite the model name by splicing bytes instead of parsing and re-serialising the body.
 *
 * Its messages give only a byte offset and what was expected, never input: V8's JSON errors quote
 * the body, and bodies hold prompts that must not reach the log.
 */

import { ModelCapture, type ModelSpan, type StreamMembers } from './json-model-capture';
import type { JsonScanError, JsonScanErrorKind } from './json-scan-error';

export { decodeJsonString } from './json-model-key';
export { MAX_MODEL_BYTES, type ModelSpan, type StreamMembers } from './json-model-capture';

export type { JsonScanError, JsonScanErrorKind } from './json-scan-error';

// States of the machine. Numbers keep the hot switch cheap.
const START = 0; // before the top-level value: whitespace, then '{'
const VALUE = 1; // a value is expected (after ':' or ',' in an array)
const ARRAY_FIRST = 2; // after '[': a value or ']'
const OBJECT_FIRST = 3; // after '{': a key or '}'
const KEY = 4; // after ',' in an object: a key
const COLON = 5; // after a key: ':'
const AFTER_VALUE = 6; // after a value: ',' or the container's end
const STRING = 7; // inside a string
const ESCAPE = 8; // after a backslash in a string
const UNICODE = 9; // inside \uXXXX
const MINUS = 10; // after '-': a digit
const ZERO = 11; // after a leading 0: '.', 'e', or the end of the number
const INT = 12; // integer digits
const DOT = 13; // after '.': a digit
const FRACTION = 14; // fraction digits
const EXP = 15; // after 'e': sign or digit
const EXP_SIGN = 16; // after the exponent's sign: a digit
const EXP_DIGITS = 17; // exponent digits
const LITERAL = 18; // inside true / false / null
const DONE = 19; // the top-level object has closed: only whitespace may follow
const FAILED = 20;

const OBJ = 1;
const ARR = 2;

const LITERALS: Record<number, Uint8Array> = {
  0x74: Buffer.from('true'),
  0x66: Buffer.from('false'),
  0x6e: Buffer.from('null'),
};

/** What each state expects, for error messages. */
const EXPECTED: Record<number, string> = {
  [START]: "'{' (the body must be a JSON object)",
  [VALUE]: 'a value',
  [ARRAY_FIRST]: "a value or ']'",
  [OBJECT_FIRST]: "a string key or '}'",
  [KEY]: 'a string key',
  [COLON]: "':'",
  [STRING]: "a closing '\"' (control characters must be escaped)",
  [ESCAPE]: 'an escape character (one of "\\/bfnrtu)',
  [UNICODE]: 'four hex digits after \\u',
  [MINUS]: 'a digit',
  [DOT]: "a digit after '.'",
  [EXP]: 'a digit or sign in the exponent',
  [EXP_SIGN]: 'a digit in the exponent',
  [LITERAL]: 'true, false or null',
  [DONE]: 'the end of the body after the top-level object',
};

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

export class JsonObjectScanner {
  private state = START;
  /**
   * Container kinds of the open levels: bit d of `shallow` is set when level d (1-31) is an array;
   * deeper levels, rare, go to `deep`, allocated only then (no buffer per body).
   */
  private shallow = 0;
  private deep: Uint8Array | undefined;
  private depth = 0;
  /** Bytes consumed before the current chunk. */
  private base = 0;
  private failure: JsonScanError | undefined;
  private stringIsKey = false;
  private hexLeft = 0;
  private literal: Uint8Array = LITERALS[0x74];
  private literalAt = 0;

  /** The top-level keys and the "model" value, as the strings holding them are walked. */
  private readonly capture = new ModelCapture();

  constructor(readonly maxDepth: number) {}

  /** The first error seen, if any; later chunks are ignored once there is one. */
  get error(): JsonScanError | undefined {
    return this.failure;
  }

  /** The last top-level "model" string's span; undefined when there is none or it is not a string. */
  get model(): ModelSpan | undefined {
    return this.capture.span;
  }

  /** How many top-level "model" members the object had (JSON parsers disagree on duplicates). */
  get modelCount(): number {
    return this.capture.models;
  }

  /** Its top-level "stream" and "stream_options" members (usage accounting reads them). */
  get streamMembers(): StreamMembers {
    return this.capture.stream;
  }

  /** Feeds the next bytes of the body; returns the error once there is one. */
  push(chunk: Uint8Array): JsonScanError | undefined {
    if (this.state === FAILED) return this.failure;
    const n = chunk.length;
    let i = 0;
    let state = this.state;
    // One switch per token, with tight loops over the runs that make up most of a body (string
    // contents, digits, whitespace): a 20 MiB body costs tens of milliseconds, not seconds.
    while (i < n) {
      let c = chunk[i];
      if (state <= AFTER_VALUE || state === DONE) {
        // Between tokens: skip whitespace first.
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          if (++i === n) break;
          c = chunk[i];
        }
        if (i === n) continue;
      }
      switch (state) {
        case STRING: {
          const from = i;
          while (i < n) {
            const d = chunk[i];
            if (d === 0x22 || d === 0x5c || d < 0x20) break;
            i++;
          }
          if (i > from && this.capture.capturing) this.capture.take(chunk, from, i);
          if (i === n) continue;
          const d = chunk[i];
          if (d === 0x22) {
            i++;
            state = this.endString(this.base + i);
          } else if (d === 0x5c) {
            if (this.capture.capturing) this.capture.take(chunk, i, i + 1);
            i++;
            state = ESCAPE;
          } else {
            return this.fail(STRING, i);
          }
          continue;
        }
        case ESCAPE:
          if (c === 0x75) {
            this.hexLeft = 4;
            state = UNICODE;
          } else if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
            state = STRING;
          } else {
            return this.fail(ESCAPE, i);
          }
          if (this.capture.capturing) this.capture.take(chunk, i, i + 1);
          i++;
          continue;
        case UNICODE:
          if (!isHex(c)) return this.fail(UNICODE, i);
          if (this.capture.capturing) this.capture.take(chunk, i, i + 1);
          i++;
          if (--this.hexLeft === 0) state = STRING;
          continue;
        case START:
          if (c !== 0x7b) {
            return this.refuse('not_object', this.base + i, EXPECTED[START]);
          }
          this.open(OBJ);
          state = OBJECT_FIRST;
          i++;
          continue;
        case ARRAY_FIRST:
        case VALUE: {
          if (state === ARRAY_FIRST && c === 0x5d) {
            i++;
            state = this.close();
            continue;
          }
          // Numbers are the smallest tokens of a body: their digits are run through right here.
          if (c >= 0x31 && c <= 0x39 && !this.capture.nextValueWanted) {
            i++;
            while (i < n && chunk[i] >= 0x30 && chunk[i] <= 0x39) i++;
            state = INT;
            continue;
          }
          const next = this.beginValue(c, this.base + i);
          if (next === FAILED) return this.fail(state, i);
          if (next === -1) return this.tooDeep(i);
          state = next;
          i++;
          continue;
        }
        case OBJECT_FIRST:
        case KEY:
          if (state === OBJECT_FIRST && c === 0x7d) {
            i++;
            state = this.close();
            continue;
          }
          if (c !== 0x22) return this.fail(state, i);
          this.beginString(true);
          state = STRING;
          i++;
          continue;
        case COLON:
          if (c !== 0x3a) return this.fail(COLON, i);
          state = VALUE;
          i++;
          continue;
        case AFTER_VALUE: {
          const top = this.top();
          if (c === 0x2c) {
            state = top === OBJ ? KEY : VALUE;
            i++;
            continue;
          }
          if ((top === OBJ && c === 0x7d) || (top === ARR && c === 0x5d)) {
            i++;
            state = this.close();
            continue;
          }
          return this.failExpected(top === OBJ ? "',' or '}'" : "',' or ']'", i);
        }
        case DONE:
          return this.fail(DONE, i);
        case MINUS:
          if (c === 0x30) state = ZERO;
          else if (isDigit(c)) state = INT;
          else return this.fail(MINUS, i);
          i++;
          continue;
        case ZERO:
        case INT:
        case FRACTION:
        case EXP_DIGITS:
          if (state !== ZERO) {
            while (c >= 0x30 && c <= 0x39) {
              if (++i === n) break;
              c = chunk[i];
            }
            if (i === n) continue;
          }
          if (c === 0x2e && (state === ZERO || state === INT)) {
            state = DOT;
            i++;
          } else if ((c === 0x65 || c === 0x45) && state !== EXP_DIGITS) {
            state = EXP;
            i++;
          } else {
            // The number ended; this byte belongs to what follows (not consumed).
            state = AFTER_VALUE;
          }
          continue;
        case DOT:
          if (!isDigit(c)) return this.fail(DOT, i);
          state = FRACTION;
          i++;
          continue;
        case EXP:
          if (c === 0x2b || c === 0x2d) state = EXP_SIGN;
          else if (isDigit(c)) state = EXP_DIGITS;
          else return this.fail(EXP, i);
          i++;
          continue;
        case EXP_SIGN:
          if (!isDigit(c)) return this.fail(EXP_SIGN, i);
          state = EXP_DIGITS;
          i++;
          continue;
        case LITERAL:
          if (c !== this.literal[this.literalAt]) return this.fail(LITERAL, i);
          i++;
          if (++this.literalAt === this.literal.length) state = AFTER_VALUE;
          continue;
        default:
          return this.fail(state, i);
      }
    }
    this.capture.endChunk();
    this.state = state;
    this.base += n;
    return undefined;
  }

  /** The body has ended: returns the error when it is not one complete object. */
  end(): JsonScanError | undefined {
    if (this.state === FAILED) return this.failure;
    if (this.state === DONE) return undefined;
    // Nothing but whitespace.
    if (this.state === START) return this.refuse('empty', this.base, EXPECTED[START]);
    return this.refuse('syntax', this.base, `more input: the body ended inside ${this.depth > 0 ? 'the object' : 'a value'}`);
  }

  /** The state after the first byte `c` of a value; FAILED when it starts none, -1 when too deep. */
  private beginValue(c: number, offset: number): number {
    if (c === 0x22) {
      this.beginString(false);
      this.capture.beginValue(c, offset);
      return STRING;
    }
    this.capture.beginValue(c, offset);
    if (c === 0x7b || c === 0x5b) {
      if (this.depth >= this.maxDepth) return -1;
      this.open(c === 0x7b ? OBJ : ARR);
      return c === 0x7b ? OBJECT_FIRST : ARRAY_FIRST;
    }
    if (c === 0x2d) return MINUS;
    if (c === 0x30) return ZERO;
    if (isDigit(c)) return INT;
    const literal = LITERALS[c];
    if (literal) {
      this.literal = literal;
      this.literalAt = 1;
      return LITERAL;
    }
    return FAILED;
  }

  private beginString(isKey: boolean): void {
    this.stringIsKey = isKey;
    this.capture.beginString(isKey && this.depth === 1);
  }

  /** A string closed at `offset` (just past its quote): what comes next. */
  private endString(offset: number): number {
    if (this.stringIsKey) {
      this.capture.endKey();
      return COLON;
    }
    this.capture.endValue(offset);
    return AFTER_VALUE;
  }

  private open(kind: number): void {
    const d = ++this.depth;
    if (d < 32) {
      if (kind === ARR) this.shallow |= 1 << d;
      else this.shallow &= ~(1 << d);
    } else {
      this.deep ??= new Uint8Array(this.maxDepth + 1);
      this.deep[d] = kind;
    }
  }

  /** The kind of the innermost open container. */
  private top(): number {
    const d = this.depth;
    if (d < 32) return (this.shallow >>> d) & 1 ? ARR : OBJ;
    return this.deep![d];
  }

  /** Closes the innermost container. */
  private close(): number {
    this.depth--;
    return this.depth === 0 ? DONE : AFTER_VALUE;
  }

  private fail(state: number, i: number): JsonScanError {
    return this.failExpected(EXPECTED[state] ?? 'valid JSON', i);
  }

  private failExpected(expected: string, i: number): JsonScanError {
    return this.refuse('syntax', this.base + i, expected);
  }

  private tooDeep(i: number): JsonScanError {
    return this.refuse('too_deep', this.base + i, `at most ${this.maxDepth} levels of nesting`);
  }

  /** Records the first error; push and end return it from then on. */
  private refuse(kind: JsonScanErrorKind, offset: number, expected: string): JsonScanError {
    this.failure = { kind, offset, expected };
    this.state = FAILED;
    return this.failure;
  }
}
