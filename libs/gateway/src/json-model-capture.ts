/**
 * The part of the JSON body check that finds the top-level "model" member: it keeps the bytes of
 * each top-level key while the scanner walks it, and the bytes of the value when the key spelt
 * "model", so that the unified endpoint can rewrite the name by splicing bytes (see
 * json-object-scanner.ts, which decides when a key or value starts and ends). It also notes the
 * top-level "stream" and "stream_options" members, so that usage accounting need not walk the
 * body again (usage-request.ts).
 */

import { KEY_MODEL, KEY_OTHER, KEY_STREAM, KEY_STREAM_OPTIONS, keyKindAt } from './json-model-key';

/** Where the top-level `"model"` member's value is, when it is a string. */
export interface ModelSpan {
  /** Offset of its opening quote. */
  start: number;
  /** Offset just past its closing quote. */
  end: number;
  /** The raw bytes between the quotes (escapes not yet decoded), or undefined when over the capture limit. */
  raw: Buffer | undefined;
}

/** The top-level "stream" and "stream_options" members of a checked body. */
export interface StreamMembers {
  /** How many top-level "stream" members there were. */
  streams: number;
  /** The last "stream" member's value is `true`. */
  streamTrue: boolean;
  /** How many top-level "stream_options" members there were. */
  options: number;
  /** A top-level key was too long to read (it could spell anything escaped): walk the body to know. */
  unsure: boolean;
}

/** A model name longer than this is not captured (no provider has one this long). */
export const MAX_MODEL_BYTES = 1024;
/** Keys longer than this at the top level cannot be "model", however they are escaped. */
const MAX_KEY_BYTES = 64;

export class ModelCapture {
  /** A top-level key or the model value is being read: the scanner hands over the string's bytes. */
  capturing = false;
  /** The top-level key just closed spelt "model" or "stream": the next value is looked at. */
  nextValueWanted = false;
  /** …and it was "stream". */
  private nextValueIsStream = false;
  /** How many top-level "model" members there were. */
  models = 0;
  /** The last top-level "model" string's span. */
  span: ModelSpan | undefined;
  readonly stream: StreamMembers = { streams: 0, streamTrue: false, options: 0, unsure: false };

  // A key within one chunk is only a range of that chunk (keyChunk, keyFrom, keyTo), compared in
  // place; it is copied only when it spans chunks or the chunk ends, since a chunk's bytes are not
  // ours to keep after push returns.
  private capturingKey = false;
  private capturingModel = false;
  private keyParts: Buffer[] = [];
  private keyChunk: Uint8Array | undefined;
  private keyFrom = 0;
  private keyTo = 0;
  private keyBytes = 0;
  private keyOverflow = false;
  private modelParts: Buffer[] = [];
  private modelBytes = 0;
  private modelStart = 0;

  /** A string starts; `topLevelKey` when it is a key of the top-level object. */
  beginString(topLevelKey: boolean): void {
    this.capturingKey = topLevelKey;
    this.capturing = topLevelKey || this.capturingModel;
    if (topLevelKey) {
      if (this.keyParts.length > 0) this.keyParts = [];
      this.keyChunk = undefined;
      this.keyBytes = 0;
      this.keyOverflow = false;
    }
  }

  /** A value starts at `offset` with byte `c` (its string begun first when that is a quote). */
  beginValue(c: number, offset: number): void {
    if (!this.nextValueWanted) return;
    this.nextValueWanted = false;
    if (this.nextValueIsStream) {
      this.nextValueIsStream = false;
      // The scanner checks the literal: a value that starts with t is `true`.
      this.stream.streamTrue = c === 0x74;
      return;
    }
    if (c !== 0x22) {
      this.span = undefined;
      return;
    }
    this.capturingModel = true;
    this.capturing = true;
    this.modelParts = [];
    this.modelBytes = 0;
    this.modelStart = offset;
  }

  /** Keeps the bytes of a top-level key or of the model value (both small, both capped). */
  take(chunk: Uint8Array, from: number, to: number): void {
    if (this.capturingKey) {
      if (this.keyOverflow) return;
      this.keyBytes += to - from;
      if (this.keyBytes > MAX_KEY_BYTES) this.keyOverflow = true;
      else if (this.keyChunk === chunk && this.keyTo === from) this.keyTo = to;
      else {
        if (this.keyChunk !== undefined) this.copyKeyRange();
        this.keyChunk = chunk;
        this.keyFrom = from;
        this.keyTo = to;
      }
    } else if (this.capturingModel) {
      this.modelBytes += to - from;
      if (this.modelBytes <= MAX_MODEL_BYTES) this.modelParts.push(Buffer.from(chunk.subarray(from, to)));
    }
  }

  /** The key being captured closed. */
  endKey(): void {
    if (!this.capturingKey) return;
    this.capturingKey = false;
    this.capturing = this.capturingModel;
    if (this.keyOverflow) {
      this.stream.unsure = true;
      return;
    }
    const kind = this.keyKind();
    if (kind === KEY_OTHER) return;
    if (kind === KEY_MODEL) {
      this.models++;
      this.nextValueWanted = true;
    } else if (kind === KEY_STREAM) {
      this.stream.streams++;
      this.nextValueWanted = true;
      this.nextValueIsStream = true;
    } else if (kind === KEY_STREAM_OPTIONS) this.stream.options++;
  }

  /** A value string closed at `offset` (just past its quote). */
  endValue(offset: number): void {
    if (!this.capturingModel) return;
    this.capturingModel = false;
    this.capturing = this.capturingKey;
    const raw = this.modelBytes <= MAX_MODEL_BYTES ? Buffer.concat(this.modelParts, this.modelBytes) : undefined;
    this.span = { start: this.modelStart, end: offset, raw };
    this.modelParts = [];
  }

  /** The chunk is done: a key range in it is copied before the caller may reuse its bytes. */
  endChunk(): void {
    if (this.keyChunk !== undefined) this.copyKeyRange();
  }

  /** What the top-level key just closed spells (json-model-key.ts). */
  private keyKind(): number {
    if (this.keyParts.length === 0) {
      const chunk = this.keyChunk;
      return chunk === undefined ? KEY_OTHER : keyKindAt(chunk, this.keyFrom, this.keyTo);
    }
    if (this.keyChunk !== undefined) this.copyKeyRange();
    const raw = Buffer.concat(this.keyParts, this.keyBytes);
    return keyKindAt(raw, 0, raw.length);
  }

  private copyKeyRange(): void {
    this.keyParts.push(Buffer.from(this.keyChunk!.subarray(this.keyFrom, this.keyTo)));
    this.keyChunk = undefined;
  }
}
