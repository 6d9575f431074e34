import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_ERROR, H2ConnectionError } from './h2-errors';
import { CLIENT_PREFACE, FrameReader, type Frame } from './h2-frame-reader';
import { encodeFrame, frameHeader } from './h2-frames';

// The frame reader against any split of a valid stream and against arbitrary bytes: same frames
// whatever the chunking, never more than one frame buffered, only H2ConnectionError thrown.

const MAX = 16384;
const frameArb = fc.record({
  type: fc.nat(255),
  flags: fc.nat(255),
  streamId: fc.nat(2 ** 31 - 1),
  payload: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: MAX }).map((n) => new Uint8Array(n).fill(n & 0xff))),
});

/** Splits `bytes` at the given cut points. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

const summary = (frames: Frame[]) => frames.map((f) => ({ type: f.type, flags: f.flags, streamId: f.streamId, payload: Buffer.from(f.payload).toString('hex') }));

describe('FrameReader on any chunking', () => {
  it('yields the frames that were encoded, holding at most 9 + maxFrameSize bytes', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (frames, cuts, preface) => {
        const wire = Buffer.concat([preface ? CLIENT_PREFACE : Buffer.alloc(0), ...frames.map((f) => encodeFrame(f.type, f.flags, f.streamId, f.payload))]);
        const reader = new FrameReader({ maxFrameSize: MAX, expectPreface: preface });
        const got: Frame[] = [];
        for (const chunk of split(wire, cuts)) {
          got.push(...reader.push(chunk));
          expect(reader.bufferedBytes).toBeLessThanOrEqual(9 + MAX);
        }
        expect(summary(got)).toEqual(summary(frames.map((f) => ({ ...f, payload: Buffer.from(f.payload) }))));
        expect(reader.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('ignores the reserved bit of the stream id', () => {
    const header = frameHeader(0, 0, 1, 0);
    header[5] |= 0x80;
    expect(new FrameReader({ maxFrameSize: MAX, expectPreface: false }).push(header)[0].streamId).toBe(1);
  });

  it('rejects an oversized frame whose header arrives a byte at a time, before any payload', () => {
    const reader = new FrameReader({ maxFrameSize: MAX, expectPreface: false });
    const header = frameHeader(0, 0, 1, 2 ** 24 - 1);
    for (let i = 0; i < 8; i++) reader.push(header.subarray(i, i + 1));
    expect(() => reader.push(header.subarray(8))).toThrow(expect.objectContaining({ code: H2_ERROR.FRAME_SIZE_ERROR }));
  });

  it('allocates for a partial frame in step with what arrived, not with the length it announces', () => {
    const reader = new FrameReader({ maxFrameSize: MAX, expectPreface: false });
    const wire = encodeFrame(0, 0, 3, Buffer.alloc(MAX, 0x5a));
    reader.push(wire.subarray(0, 9 + 10));
    expect(reader.bufferedBytes).toBe(9 + 10);
    expect(reader.allocatedBytes).toBeLessThanOrEqual(9 + 1024);
    let most = 0;
    let frames: Frame[] = [];
    for (let at = 19; at < wire.length; at += 7) {
      frames = frames.concat(reader.push(wire.subarray(at, at + 7)));
      most = Math.max(most, reader.allocatedBytes);
      if (reader.bufferedBytes > 0) expect(reader.allocatedBytes).toBeLessThanOrEqual(Math.max(9 + 1024, 2 * reader.bufferedBytes));
    }
    expect(most).toBe(9 + MAX);
    expect(frames).toHaveLength(1);
    expect(frames[0].payload.equals(Buffer.alloc(MAX, 0x5a))).toBe(true);
    expect(reader.allocatedBytes).toBe(0);
  });

  it('reads a frame split across many chunks into one buffer of its size', () => {
    const payload = Buffer.alloc(MAX, 0x5a);
    const wire = encodeFrame(0, 0, 3, payload);
    const reader = new FrameReader({ maxFrameSize: MAX, expectPreface: false });
    const got: Frame[] = [];
    for (let at = 0; at < wire.length; at += 1000) got.push(...reader.push(wire.subarray(at, at + 1000)));
    expect(got).toHaveLength(1);
    expect(got[0].payload.equals(payload)).toBe(true);
    expect(got[0].payload.byteLength).toBe(MAX);
  });
});

describe('FrameReader on arbitrary bytes', () => {
  it('throws only H2ConnectionError (FRAME_SIZE_ERROR or PROTOCOL_ERROR) and buffers boundedly', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 10 }), fc.boolean(), fc.integer({ min: 0, max: 300 }), (chunks, preface, maxFrameSize) => {
        const reader = new FrameReader({ maxFrameSize, expectPreface: preface });
        try {
          for (const chunk of chunks) {
            for (const frame of reader.push(Buffer.from(chunk))) expect(frame.payload.length).toBeLessThanOrEqual(maxFrameSize);
            expect(reader.bufferedBytes).toBeLessThanOrEqual(9 + maxFrameSize);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(H2ConnectionError);
          expect([H2_ERROR.FRAME_SIZE_ERROR, H2_ERROR.PROTOCOL_ERROR]).toContain((err as H2ConnectionError).code);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
