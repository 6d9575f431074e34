import { describe, expect, it } from 'vitest';
import { H2_ERROR, H2ConnectionError } from './h2-errors';
import {
  CLIENT_PREFACE,
  FLAG,
  FRAME,
  FrameReader,
  SETTING,
  dataOf,
  encodeFrame,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSettingsAck,
  encodeWindowUpdate,
  frameHeader,
  headersBlockOf,
  parseGoaway,
  parseRstStream,
  parseSettings,
  parseWindowUpdate,
  type Frame,
} from './h2-frames';

const connectionError = (code: number) => expect.objectContaining({ name: 'H2ConnectionError', code });

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('frame encoders', () => {
  it('write the RFC 9113 4.1 header layout', () => {
    expect(frameHeader(FRAME.HEADERS, FLAG.END_HEADERS, 0x80000003, 0x012345).toString('hex')).toBe('01234501' + '04' + '00000003');
    expect(encodeFrame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('hi')).toString('hex')).toBe('000002000100000001' + '6869');
    expect(encodeFrame(FRAME.DATA, 0, 1).length).toBe(9);
    expect(encodeSettingsAck().toString('hex')).toBe('000000040100000000');
    expect(encodeSettings([[SETTING.MAX_CONCURRENT_STREAMS, 100], [SETTING.INITIAL_WINDOW_SIZE, 65535]]).toString('hex')).toBe(
      '00000c040000000000' + '000300000064' + '00040000ffff',
    );
    expect(encodePing(true, Buffer.from('01020304050607ff', 'hex')).toString('hex')).toBe('000008060100000000' + '01020304050607ff');
    expect(encodeGoaway(7, H2_ERROR.ENHANCE_YOUR_CALM, 'bye').toString('hex')).toBe('00000b070000000000' + '00000007' + '0000000b' + '627965');
    expect(encodeRstStream(5, H2_ERROR.CANCEL).toString('hex')).toBe('000004030000000005' + '00000008');
    expect(encodeWindowUpdate(0, 2 ** 31 - 1).toString('hex')).toBe('000004080000000000' + '7fffffff');
  });

  it('parse what they write', () => {
    const frames = new FrameReader({ maxFrameSize: 16384, expectPreface: false }).push(
      Buffer.concat([encodeGoaway(9, 2), encodeRstStream(3, 8), encodeWindowUpdate(3, 1000), encodeSettings([[SETTING.ENABLE_PUSH, 0]])]),
    );
    expect(parseGoaway(frames[0].payload)).toEqual({ lastStreamId: 9, code: 2 });
    expect(parseRstStream(frames[1].payload)).toBe(8);
    expect(parseWindowUpdate(frames[2].payload)).toBe(1000);
    expect(parseSettings(frames[3].payload)).toEqual([[SETTING.ENABLE_PUSH, 0]]);
  });
});

describe('FrameReader', () => {
  const stream = Buffer.concat([
    CLIENT_PREFACE,
    encodeSettings([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]),
    encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.alloc(300, 7)),
    encodeFrame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(16384, 9)),
    encodeSettingsAck(),
  ]);
  const expectFrames = (frames: Frame[]) => {
    expect(frames.map((f) => [f.type, f.flags, f.streamId, f.payload.length])).toEqual([
      [FRAME.SETTINGS, 0, 0, 6],
      [FRAME.HEADERS, FLAG.END_HEADERS, 1, 300],
      [FRAME.DATA, FLAG.END_STREAM, 1, 16384],
      [FRAME.SETTINGS, FLAG.ACK, 0, 0],
    ]);
    expect(frames[2].payload.every((b) => b === 9)).toBe(true);
  };

  it('reads frames from one chunk as views into it', () => {
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: true });
    const frames = reader.push(stream);
    expectFrames(frames);
    expect(frames[1].payload.buffer).toBe(stream.buffer);
    expect(reader.bufferedBytes).toBe(0);
  });

  it('reads the same frames from 1-byte chunks, holding at most one frame', () => {
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: true });
    const frames: Frame[] = [];
    let most = 0;
    for (let i = 0; i < stream.length; i++) {
      frames.push(...reader.push(stream.subarray(i, i + 1)));
      most = Math.max(most, reader.bufferedBytes);
    }
    expectFrames(frames);
    expect(most).toBeLessThanOrEqual(9 + 16384);
    expect(reader.bufferedBytes).toBe(0);
  });

  it('rejects a bad preface with PROTOCOL_ERROR, even from its first byte', () => {
    expect(catchError(() => new FrameReader({ maxFrameSize: 16384, expectPreface: true }).push(Buffer.from('GET / HTTP/1.1\r\n')))).toEqual(
      connectionError(H2_ERROR.PROTOCOL_ERROR),
    );
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: true });
    reader.push(CLIENT_PREFACE.subarray(0, 10));
    expect(catchError(() => reader.push(Buffer.from('X')))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
  });

  it('rejects a frame above maxFrameSize from its header alone, with FRAME_SIZE_ERROR', () => {
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: false });
    expect(catchError(() => reader.push(frameHeader(FRAME.DATA, 0, 1, 16385)))).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
    expect(reader.bufferedBytes).toBe(0);
  });
});

describe('payload parsers', () => {
  const frame = (type: number, flags: number, payload: Buffer): Frame => ({ type, flags, streamId: 1, payload });

  it('strip padding and priority from HEADERS and padding from DATA', () => {
    const block = Buffer.from('82848786', 'hex');
    expect(headersBlockOf(frame(FRAME.HEADERS, FLAG.END_HEADERS, block))).toEqual(block);
    expect(headersBlockOf(frame(FRAME.HEADERS, FLAG.PADDED, Buffer.concat([Buffer.from([2]), block, Buffer.alloc(2)])))).toEqual(block);
    expect(headersBlockOf(frame(FRAME.HEADERS, FLAG.PRIORITY, Buffer.concat([Buffer.alloc(5), block])))).toEqual(block);
    expect(headersBlockOf(frame(FRAME.HEADERS, FLAG.PADDED | FLAG.PRIORITY, Buffer.concat([Buffer.from([1]), Buffer.alloc(5), block, Buffer.alloc(1)])))).toEqual(block);
    expect(headersBlockOf(frame(FRAME.CONTINUATION, 0, block))).toEqual(block);
    expect(dataOf(frame(FRAME.DATA, FLAG.PADDED, Buffer.concat([Buffer.from([3]), block, Buffer.alloc(3)])))).toEqual(block);
    expect(dataOf(frame(FRAME.DATA, FLAG.PADDED, Buffer.from([0])))).toEqual(Buffer.alloc(0));
  });

  it('reject padding longer than the payload with PROTOCOL_ERROR', () => {
    expect(catchError(() => headersBlockOf(frame(FRAME.HEADERS, FLAG.PADDED, Buffer.from([4, 1, 2, 3]))))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
    expect(catchError(() => dataOf(frame(FRAME.DATA, FLAG.PADDED, Buffer.from([1]))))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
    expect(catchError(() => dataOf(frame(FRAME.DATA, FLAG.PADDED, Buffer.alloc(0))))).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
    expect(catchError(() => headersBlockOf(frame(FRAME.HEADERS, FLAG.PRIORITY, Buffer.alloc(4))))).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
  });

  it('validate SETTINGS per RFC 9113 6.5.2', () => {
    const settings = (id: number, value: number) => encodeSettings([[id, value]]).subarray(9);
    expect(catchError(() => parseSettings(Buffer.alloc(7)))).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
    expect(catchError(() => parseSettings(settings(SETTING.ENABLE_PUSH, 2)))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
    expect(catchError(() => parseSettings(settings(SETTING.INITIAL_WINDOW_SIZE, 2 ** 31)))).toEqual(connectionError(H2_ERROR.FLOW_CONTROL_ERROR));
    expect(catchError(() => parseSettings(settings(SETTING.MAX_FRAME_SIZE, 16383)))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
    expect(catchError(() => parseSettings(settings(SETTING.MAX_FRAME_SIZE, 2 ** 24)))).toEqual(connectionError(H2_ERROR.PROTOCOL_ERROR));
    expect(parseSettings(settings(SETTING.MAX_FRAME_SIZE, 2 ** 24 - 1))).toEqual([[SETTING.MAX_FRAME_SIZE, 2 ** 24 - 1]]);
    expect(parseSettings(settings(0x99, 5))).toEqual([[0x99, 5]]); // unknown: returned, for the caller to ignore
  });

  it('reject wrong lengths of fixed-size payloads with FRAME_SIZE_ERROR', () => {
    for (const parse of [parseWindowUpdate, parseRstStream, parseGoaway]) {
      const err = catchError(() => parse(Buffer.alloc(3)));
      expect(err).toBeInstanceOf(H2ConnectionError);
      expect(err).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
    }
    expect(catchError(() => parseWindowUpdate(Buffer.alloc(5)))).toEqual(connectionError(H2_ERROR.FRAME_SIZE_ERROR));
  });
});
