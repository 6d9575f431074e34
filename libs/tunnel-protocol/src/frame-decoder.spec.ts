import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { ConnectRequest, ConnectResponse } from '@st/proto';
import { decodeAgentFrames, decodeConnectRequest, decodeConnectResponse } from './frame-decoder';

/*
 * Malformed input, case by case (frame-codec.spec.ts covers random damage): what the decoder
 * refuses, what it steps over, and that ts-proto's decoder does the same with those bytes.
 */

/** A message built field by field: tag, then the value. */
const msg = (build: (w: BinaryWriter) => void): Uint8Array => {
  const w = new BinaryWriter();
  build(w);
  return w.finish();
};
/** A length-delimited field holding `inner`. */
const sub = (w: BinaryWriter, field: number, inner: Uint8Array) => w.tag(field, WireType.LengthDelimited).bytes(inner);
/** ConnectResponse { frames: [BrokerFrame { data: <data> }] } around hand-made Data bytes. */
const responseWithData = (data: Uint8Array) => Buffer.from(msg((w) => sub(w, 1, msg((f) => sub(f, 3, data)))));

describe('the decoder refuses, as ts-proto does', () => {
  it.each([
    ['a varint cut short (a frame length)', Buffer.from([0x0a, 0x80])],
    ['a varint cut short (an exchange id)', responseWithData(Buffer.from([0x08, 0xff, 0xff]))],
    ['a frame longer than the message', Buffer.from([0x0a, 0x05, 0x1a, 0x00])],
    ['a body longer than the message', responseWithData(Buffer.from([0x12, 0x64, 1, 2, 3]))],
    ['a string longer than the message', Buffer.from(msg((w) => sub(w, 1, msg((f) => sub(f, 2, Buffer.from([0x12, 0x10, 0x61]))))))],
  ])('%s: premature end', (_what, bytes) => {
    expect(() => ConnectResponse.decode(bytes)).toThrow(RangeError);
    expect(() => decodeConnectResponse(bytes)).toThrow(/premature EOF/);
  });

  it('a varint of more than 10 bytes', () => {
    const bytes = responseWithData(Buffer.from([0x08, ...new Array(10).fill(0xff), 0x01]));
    expect(() => ConnectResponse.decode(bytes)).toThrow(/invalid varint/);
    expect(() => decodeConnectResponse(bytes)).toThrow(/invalid varint/);
  });

  it.each([6, 7])('a field of wire type %i (there is none)', (wireType) => {
    const bytes = responseWithData(Buffer.from([(15 << 3) | wireType, 0x00]));
    expect(() => ConnectResponse.decode(bytes)).toThrow(/cant skip wire type/);
    expect(() => decodeConnectResponse(bytes)).toThrow(/cant skip wire type/);
  });

  it('a group inside a group closed by the wrong field', () => {
    // (BinaryReader checks the end of a nested group only; so does this decoder)
    const bytes = responseWithData(msg((w) => w.tag(15, WireType.StartGroup).tag(3, WireType.StartGroup).tag(4, WireType.EndGroup).tag(15, WireType.EndGroup)));
    expect(() => ConnectResponse.decode(bytes)).toThrow(/invalid end group tag/);
    expect(() => decodeConnectResponse(bytes)).toThrow(/invalid end group tag/);
  });
});

describe('the decoder steps over, as ts-proto does', () => {
  /** Data { exchange_id: 9, chunk: "hi", end: true } with every kind of unknown field between its fields. */
  const dataWithUnknowns = msg((w) => {
    w.tag(15, WireType.Varint).uint64(2n ** 63n);
    w.tag(1, WireType.Varint).uint32(9);
    w.tag(14, WireType.Bit64).fixed64(1n);
    w.tag(13, WireType.Bit32).fixed32(7);
    w.tag(2, WireType.LengthDelimited).bytes(Buffer.from('hi'));
    w.tag(12, WireType.LengthDelimited).bytes(Buffer.from('a newer field'));
    w.tag(11, WireType.StartGroup).tag(1, WireType.Varint).uint32(5).tag(2, WireType.LengthDelimited).string('x').tag(11, WireType.EndGroup);
    w.tag(3, WireType.Varint).bool(true);
    w.tag(2000, WireType.Varint).uint32(1);
  });

  it('unknown fields of every wire type inside a frame', () => {
    const bytes = responseWithData(dataWithUnknowns);
    const decoded = decodeConnectResponse(bytes);
    expect(decoded).toEqual(ConnectResponse.decode(bytes));
    expect(decoded.frames).toEqual([{ frame: { $case: 'data', value: { exchangeId: 9, chunk: Buffer.from('hi'), end: true } } }]);
  });

  it('an unknown kind of frame (a newer peer): a frame with no case, the others kept', () => {
    const credit = msg((w) => w.tag(1, WireType.Varint).uint32(4).tag(2, WireType.Varint).uint32(65_536));
    const bytes = Buffer.from(msg((w) => {
      sub(w, 1, msg((f) => f.tag(20, WireType.LengthDelimited).bytes(Buffer.from('future'))));
      sub(w, 1, msg((f) => sub(f, 5, credit)));
      w.tag(2, WireType.Varint).uint32(1); // an unknown field of the batch itself
    }));
    expect(decodeConnectRequest(bytes)).toEqual(ConnectRequest.decode(bytes));
    expect(decodeConnectRequest(bytes).frames).toEqual([{ frame: undefined }, { frame: { $case: 'credit', value: { exchangeId: 4, bytes: 65_536 } } }]);
  });

  it('a known field of the wrong wire type', () => {
    // exchange_id (a varint) sent length-delimited, then end as a varint of 10 bytes
    const data = msg((w) => w.tag(1, WireType.LengthDelimited).bytes(Buffer.from([1, 2])).tag(3, WireType.Varint).uint64(2n ** 63n));
    const bytes = responseWithData(data);
    expect(decodeConnectResponse(bytes)).toEqual(ConnectResponse.decode(bytes));
    expect(decodeConnectResponse(bytes).frames[0]).toEqual({ frame: { $case: 'data', value: { exchangeId: 0, chunk: new Uint8Array(0), end: true } } });
  });

  it('varints longer than they need be', () => {
    const data = Buffer.from([0x08, 0x85, 0x80, 0x80, 0x80, 0x00, 0x18, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    const bytes = responseWithData(data);
    expect(decodeConnectResponse(bytes)).toEqual(ConnectResponse.decode(bytes));
    expect(decodeConnectResponse(bytes).frames[0]).toEqual({ frame: { $case: 'data', value: { exchangeId: 5, chunk: new Uint8Array(0), end: true } } });
  });

  it('two cases in one frame: the last wins', () => {
    const data = msg((w) => w.tag(1, WireType.Varint).uint32(1));
    const credit = msg((w) => w.tag(1, WireType.Varint).uint32(2));
    const bytes = Buffer.from(msg((w) => sub(w, 1, msg((f) => sub(sub(f, 3, data), 5, credit)))));
    expect(decodeConnectRequest(bytes)).toEqual(ConnectRequest.decode(bytes));
    expect(decodeConnectRequest(bytes).frames[0].frame?.$case).toBe('credit');
  });

  it('a zero tag ends the message where it stands', () => {
    const bytes = Buffer.from([0x0a, 0x02, 0x1a, 0x00, 0x00, 0x0a, 0x00]);
    expect(decodeConnectRequest(bytes)).toEqual(ConnectRequest.decode(bytes));
    expect(decodeConnectRequest(bytes).frames).toHaveLength(1);
  });
});

describe('decodeAgentFrames', () => {
  it('gives up at the limit before decoding the frame past it, even a malformed one', () => {
    const ok = Buffer.from(ConnectRequest.encode({ frames: [{ frame: { $case: 'ping', value: { nonce: 1 } } }] }).finish());
    const bytes = Buffer.concat([ok, ok, Buffer.from([0x0a, 0x7f])]); // a third frame, cut short
    expect(decodeAgentFrames(bytes, 2)).toBeUndefined();
    expect(() => decodeAgentFrames(bytes, 3)).toThrow(/premature EOF/);
  });
});
