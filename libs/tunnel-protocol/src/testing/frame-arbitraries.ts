import fc from 'fast-check';
import {
  type AgentFrame,
  type BrokerFrame,
  type ConnectRequest,
  type ConnectResponse,
  type Data,
  type ExchangeRequest,
  type ExchangeResponse,
  type Header,
  type RequestOpen,
  type ResponseHead,
} from '@st/proto';

/*
 * Arbitrary tunnel messages for the codec's property tests (../frame-codec.spec.ts): every oneof
 * case, proto3 defaults (which the encoders omit) as often as not, varint lengths at their
 * boundaries, any text, and bodies that are views into larger buffers (as received bodies are).
 */

const U32_MAX = 0xffffffff;

/** Any uint32, its varint length boundaries often, 0 (omitted) often. */
export const uint32 = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, U32_MAX) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: U32_MAX }) },
);

/** Strings of any code points and of UTF-16 units (lone surrogates), a leading BOM, long ones. */
const surrogates = fc.string({ unit: fc.integer({ min: 0xd700, max: 0xe000 }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 });
const short = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }) },
  { weight: 1, arbitrary: surrogates },
);
export const text = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  { weight: 7, arbitrary: short },
  { weight: 1, arbitrary: short.map((s) => `\ufeff${s}`) },
  // Past the encoder's short-string loop (64 units), ASCII or not.
  { weight: 1, arbitrary: fc.tuple(short, fc.integer({ min: 10, max: 300 })).map(([s, n]) => s.repeat(n)) },
);

/** Bodies: empty (omitted), small, long enough for 2- and 3-byte length varints; Buffers and views. */
export const body = fc.oneof(
  { weight: 2, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat({ max: 99 })).map(([b, at]) => b.subarray(Math.min(at, b.length))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 128, max: 20_000 }), fc.nat({ max: 255 })).map(([n, fill]) => new Uint8Array(n).fill(fill)) },
);

const headers: fc.Arbitrary<Header[]> = fc.array(fc.record({ name: text, value: text }), { maxLength: 5 });

export const requestOpen: fc.Arbitrary<RequestOpen> = fc.record({
  exchangeId: uint32,
  requestId: text,
  method: text,
  path: text,
  query: text,
  headers,
  body,
  end: fc.boolean(),
});

export const responseHead: fc.Arbitrary<ResponseHead> = fc.record({ exchangeId: uint32, status: uint32, headers, body, end: fc.boolean() });
export const data: fc.Arbitrary<Data> = fc.record({ exchangeId: uint32, chunk: body, end: fc.boolean() });
const credit = fc.record({ exchangeId: uint32, bytes: uint32 });
const nonce = fc.oneof(fc.constant(0), fc.maxSafeNat());
const errorCode = fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const exchangeError = fc.record({ exchangeId: uint32, code: errorCode, message: text });

const agentCase = fc.oneof(
  fc.record({ $case: fc.constant('head' as const), value: responseHead }),
  fc.record({ $case: fc.constant('data' as const), value: data }),
  fc.record({ $case: fc.constant('credit' as const), value: credit }),
  fc.record({
    $case: fc.constant('register' as const),
    value: fc.record({
      protocolVersion: uint32,
      agentVersion: text,
      capabilities: fc.array(text, { maxLength: 3 }),
      hostname: text,
      receiveWindow: uint32,
      upstreamOverride: text,
      agentInstanceId: text,
      connectionEpoch: nonce,
    }),
  }),
  fc.record({ $case: fc.constant('error' as const), value: exchangeError }),
  fc.record({ $case: fc.constant('ping' as const), value: fc.record({ nonce }) }),
  fc.record({ $case: fc.constant('pong' as const), value: fc.record({ nonce }) }),
  fc.record({ $case: fc.constant('draining' as const), value: fc.record({ graceMs: uint32 }) }),
  fc.record({ $case: fc.constant('health' as const), value: fc.record({ healthy: fc.boolean(), models: fc.array(text, { maxLength: 3 }), error: text }) }),
);

const brokerCase = fc.oneof(
  fc.record({ $case: fc.constant('open' as const), value: requestOpen }),
  fc.record({ $case: fc.constant('data' as const), value: data }),
  fc.record({ $case: fc.constant('credit' as const), value: credit }),
  fc.record({
    $case: fc.constant('welcome' as const),
    value: fc.record({
      protocolVersion: uint32,
      tunnelId: text,
      upstreamUrl: text,
      brokerId: text,
      receiveWindow: uint32,
      maxChunkBytes: uint32,
      pingIntervalMs: uint32,
      upstreamApiKey: text,
      healthIntervalMs: uint32,
      plainHttp: fc.boolean(),
      liveBrokers: uint32,
    }),
  }),
  fc.record({ $case: fc.constant('cancel' as const), value: fc.record({ exchangeId: uint32, reason: text }) }),
  fc.record({ $case: fc.constant('ping' as const), value: fc.record({ nonce }) }),
  fc.record({ $case: fc.constant('pong' as const), value: fc.record({ nonce }) }),
  fc.record({ $case: fc.constant('drain' as const), value: fc.record({ reason: text }) }),
);

/** A frame, or now and then one with no case set (encoded as an empty frame). */
const agentFrame: fc.Arbitrary<AgentFrame> = fc.oneof(
  { weight: 12, arbitrary: agentCase.map((frame) => ({ frame })) },
  { weight: 1, arbitrary: fc.constant({ frame: undefined }) },
);
const brokerFrame: fc.Arbitrary<BrokerFrame> = fc.oneof(
  { weight: 12, arbitrary: brokerCase.map((frame) => ({ frame })) },
  { weight: 1, arbitrary: fc.constant({ frame: undefined }) },
);

export const connectRequest: fc.Arbitrary<ConnectRequest> = fc.record({ frames: fc.array(agentFrame, { maxLength: 12 }) });
export const connectResponse: fc.Arbitrary<ConnectResponse> = fc.record({ frames: fc.array(brokerFrame, { maxLength: 12 }) });

export const exchangeRequest: fc.Arbitrary<ExchangeRequest> = fc.oneof(
  fc.record({
    frame: fc.record({
      $case: fc.constant('open' as const),
      value: fc.record({ tunnelId: text, userId: text, request: fc.option(requestOpen, { nil: undefined }), streamId: text }),
    }),
  }),
  fc.record({ frame: fc.record({ $case: fc.constant('data' as const), value: data }) }),
  fc.constant({ frame: undefined }),
);

export const exchangeResponse: fc.Arbitrary<ExchangeResponse> = fc.oneof(
  fc.record({ frame: fc.record({ $case: fc.constant('head' as const), value: responseHead }) }),
  fc.record({ frame: fc.record({ $case: fc.constant('data' as const), value: data }) }),
  fc.record({ frame: fc.record({ $case: fc.constant('error' as const), value: exchangeError }) }),
  fc.constant({ frame: undefined }),
);

/** Damage done to a valid encoding: the decoders must agree on what is left (or both refuse it). */
export const damage = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
);
export type Damage = typeof damage extends fc.Arbitrary<infer T> ? T : never;

export function damaged(bytes: Uint8Array, how: Damage[]): Buffer {
  let b = Buffer.from(bytes);
  for (const d of how) {
    const at = b.length === 0 ? 0 : d.at % (b.length + 1);
    if (d.kind === 'truncate') b = b.subarray(0, at);
    else if (d.kind === 'flip' && at < b.length) b[at] = d.value;
    else if (d.kind === 'insert') b = Buffer.concat([b.subarray(0, at), d.bytes, b.subarray(at)]);
  }
  return b;
}
