import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectRequest, ConnectResponse, ExchangeRequest, ExchangeResponse } from '@st/proto';
import { chunksAt, fuzzRuns, fuzzSeed } from '@st/testing';
import { decodeAgentFrames, decodeConnectRequest, decodeConnectResponse } from './frame-decoder';
import { encodeConnectRequest, encodeConnectResponse } from './frame-encoder';
import { GatheredData } from './gathered-data';
import { decodeExchangeRequest, decodeExchangeResponse } from './relay-decoder';
import { encodeExchangeRequest, encodeExchangeResponse } from './relay-encoder';
import { connectRequest, connectResponse, damage, damaged, exchangeRequest, exchangeResponse } from './testing/frame-arbitraries';

/*
 * The tunnel's codec against ts-proto's generated one, on arbitrary messages: the same bytes out
 * (so the wire does not change and either end may use either codec), the same objects back, and
 * on damaged or random bytes the same objects or both refusing. Replay a failure with the seed
 * fast-check prints: `FUZZ_SEED=<seed> npx vitest run <this file>`.
 */

const RUNS = 300;
const options = () => ({ seed: fuzzSeed(), numRuns: fuzzRuns(RUNS) });

/** What decoding gives: the message, or that it was refused. */
function outcome(decode: () => unknown): { ok: unknown } | { refused: true } {
  try {
    return { ok: comparable(decode()) };
  } catch {
    return { refused: true };
  }
}

/** Bytes as their kind and hex (the deep comparison of large arrays element by element is slow). */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return { [value.constructor.name]: Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex') };
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]));
  return value;
}

const codecs = [
  {
    name: 'ConnectRequest',
    arbitrary: connectRequest,
    ours: { encode: encodeConnectRequest, decode: decodeConnectRequest },
    generated: { encode: (m: ConnectRequest) => ConnectRequest.encode(m).finish(), decode: (b: Uint8Array) => ConnectRequest.decode(b) },
  },
  {
    name: 'ConnectResponse',
    arbitrary: connectResponse,
    ours: { encode: encodeConnectResponse, decode: decodeConnectResponse },
    generated: { encode: (m: ConnectResponse) => ConnectResponse.encode(m).finish(), decode: (b: Uint8Array) => ConnectResponse.decode(b) },
  },
  {
    name: 'ExchangeRequest',
    arbitrary: exchangeRequest,
    ours: { encode: encodeExchangeRequest, decode: decodeExchangeRequest },
    generated: { encode: (m: ExchangeRequest) => ExchangeRequest.encode(m).finish(), decode: (b: Uint8Array) => ExchangeRequest.decode(b) },
  },
  {
    name: 'ExchangeResponse',
    arbitrary: exchangeResponse,
    ours: { encode: encodeExchangeResponse, decode: decodeExchangeResponse },
    generated: { encode: (m: ExchangeResponse) => ExchangeResponse.encode(m).finish(), decode: (b: Uint8Array) => ExchangeResponse.decode(b) },
  },
] as const;

describe.each(codecs)('$name', ({ arbitrary, ours, generated }) => {
  // One loose signature for the table's four codecs (each row is consistent in itself).
  const o = ours as { encode: (m: unknown) => Buffer; decode: (b: Uint8Array) => unknown };
  const g = generated as { encode: (m: unknown) => Uint8Array; decode: (b: Uint8Array) => unknown };

  it("encodes to ts-proto's bytes, byte for byte", () => {
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<unknown>, (message) => {
        const bytes = o.encode(message);
        expect(Buffer.isBuffer(bytes)).toBe(true);
        expect(bytes.equals(g.encode(message))).toBe(true);
      }),
      options(),
    );
  });

  it("decodes to ts-proto's objects, from a Buffer and from a plain Uint8Array", () => {
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<unknown>, (message) => {
        const bytes = Buffer.from(g.encode(message));
        expect(comparable(o.decode(bytes))).toEqual(comparable(g.decode(bytes)));
        const plain = new Uint8Array(bytes);
        expect(comparable(o.decode(plain))).toEqual(comparable(g.decode(plain)));
      }),
      options(),
    );
  });

  it('agrees with ts-proto on damaged bytes: the same objects, or both refuse', () => {
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<unknown>, fc.array(damage, { minLength: 1, maxLength: 3 }), (message, how) => {
        const bytes = damaged(g.encode(message), how);
        const mine = outcome(() => o.decode(bytes));
        const theirs = outcome(() => g.decode(bytes));
        expect(mine).toEqual(theirs);
      }),
      options(),
    );
  });

  it('agrees with ts-proto on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        const bytes = Buffer.from(raw);
        expect(outcome(() => o.decode(bytes))).toEqual(outcome(() => g.decode(bytes)));
      }),
      options(),
    );
  });
});

describe('decodeAgentFrames', () => {
  it('stops at the frame limit without decoding the rest, and decodes up to it as ts-proto does', () => {
    fc.assert(
      fc.property(connectRequest, fc.nat({ max: 12 }), (message, limit) => {
        const bytes = Buffer.from(ConnectRequest.encode(message).finish());
        const frames = decodeAgentFrames(bytes, limit);
        if (message.frames.length > limit) expect(frames).toBeUndefined();
        else expect(comparable(frames)).toEqual(comparable(ConnectRequest.decode(bytes).frames));
      }),
      options(),
    );
  });
});

describe('bodies', () => {
  it('are views of the received buffer, not copies', () => {
    const chunk = Buffer.from('a body chunk');
    const received = encodeConnectResponse({ frames: [{ frame: { $case: 'data', value: { exchangeId: 7, chunk, end: true } } }] });
    const decoded = decodeConnectResponse(received).frames[0].frame;
    if (decoded?.$case !== 'data') throw new Error(`expected a data frame, got ${decoded?.$case}`);
    expect(Buffer.from(decoded.value.chunk).toString()).toBe('a body chunk');
    expect(decoded.value.chunk.buffer).toBe(received.buffer);
    received[received.indexOf('a body')] = 0x41; // a write to the message shows through the view
    expect(Buffer.from(decoded.value.chunk).toString()).toBe('A body chunk');
  });

  it('are written once into one buffer of the exact size', () => {
    const chunk = new Uint8Array(300_000).fill(7);
    const bytes = encodeConnectRequest({ frames: [{ frame: { $case: 'data', value: { exchangeId: 1, chunk, end: false } } }] });
    // tag+len of the frame (1+3), of Data (1+3), exchange id (2), chunk tag+len (1+3) + the chunk
    expect(bytes.length).toBe(14 + chunk.length);
    expect(bytes.equals(ConnectRequest.encode({ frames: [{ frame: { $case: 'data', value: { exchangeId: 1, chunk, end: false } } }] }).finish())).toBe(true);
  });
});

describe('a gathered body (GatheredData)', () => {
  const cut = fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 8 }));

  it('encodes to the bytes of its parts joined, in any cut, among other frames', () => {
    fc.assert(
      fc.property(cut, fc.nat(1000), fc.boolean(), ([body, at], exchangeId, end) => {
        const parts = chunksAt(Buffer.from(body.buffer, body.byteOffset, body.byteLength), at);
        const gathered = new GatheredData(exchangeId, parts, body.length, end);
        const plain = { exchangeId, chunk: body, end };
        const credit = { frame: { $case: 'credit' as const, value: { exchangeId: 3, bytes: 9 } } };
        const ours = encodeConnectRequest({ frames: [credit, { frame: { $case: 'data', value: gathered } }, credit] });
        expect(ours.equals(ConnectRequest.encode({ frames: [credit, { frame: { $case: 'data', value: plain } }, credit] }).finish())).toBe(true);
        const toAgent = encodeConnectResponse({ frames: [{ frame: { $case: 'data', value: gathered } }] });
        expect(toAgent.equals(ConnectResponse.encode({ frames: [{ frame: { $case: 'data', value: plain } }] }).finish())).toBe(true);
        expect(Buffer.from(gathered.chunk).equals(Buffer.from(body))).toBe(true);
      }),
      options(),
    );
  });

  it('is refused, not sent as garbage, when its parts do not add up to its length', () => {
    const gathered = new GatheredData(1, [new Uint8Array(3), new Uint8Array(4)], 8, false);
    expect(() => encodeConnectRequest({ frames: [{ frame: { $case: 'data', value: gathered } }] })).toThrow(/size and write passes disagree/);
  });
});

describe('the encoder', () => {
  it.each([-1, 1.5, 2 ** 32, Number.NaN])('refuses exchange id %s as ts-proto does, instead of sending garbage', (exchangeId) => {
    const message = { frames: [{ frame: { $case: 'credit' as const, value: { exchangeId, bytes: 1 } } }] };
    expect(() => ConnectResponse.encode(message)).toThrow(/invalid uint32/);
    expect(() => encodeConnectResponse(message)).toThrow(/invalid uint32/);
  });
});
