import fc from 'fast-check';
import { ExchangeErrorCode } from '@st/proto';

export const U32_MAX = 0xffffffff;

/** What the broker's frame fuzz spec generates: exchange references, frames, actions and scenarios. */
// ---- what the fuzzer generates ---------------------------------------------------------------

/** An exchange id: one the gateway opened on this stream (by index), or any id at all. */
export const exchangeRef = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 7 }).map((i) => ({ opened: i })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 1000, U32_MAX).map((id) => ({ raw: id })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: U32_MAX }).map((id) => ({ raw: id })) },
);
export type ExchangeRef = { opened: number } | { raw: number };

/** A body: a few random bytes, or a length of zeros (kept a number so counterexamples stay short). */
export const bytes = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 300 * 1024 }) },
);
export type Bytes = Uint8Array | number;
export const body = (b: Bytes) => (typeof b === 'number' ? new Uint8Array(b) : b);
export const count = fc.oneof(fc.constantFrom(0, 1, 64 * 1024, 256 * 1024, 2 ** 31, U32_MAX), fc.integer({ min: 0, max: U32_MAX }));
export const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
export const headers = fc.array(fc.record({ name: text, value: text }), { maxLength: 4 });

export type FrameSpec =
  | { kind: 'head'; ref: ExchangeRef; status: number; headers: { name: string; value: string }[]; body: Bytes; end: boolean }
  | { kind: 'data'; ref: ExchangeRef; chunk: Bytes; end: boolean }
  | { kind: 'error'; ref: ExchangeRef; code: number; message: string }
  | { kind: 'credit'; ref: ExchangeRef; bytes: number }
  | { kind: 'ping'; nonce: number; times: number }
  | { kind: 'pong'; nonce: number }
  | { kind: 'draining'; graceMs: number }
  | { kind: 'health'; healthy: boolean; models: string[]; error: string }
  | { kind: 'register'; window: number }
  | { kind: 'empty' };

export const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('head' as const), ref: exchangeRef, status: fc.oneof(fc.constantFrom(0, 100, 101, 200, 204, 304, 404, 500, 502, 999), fc.integer({ min: 0, max: U32_MAX })), headers, body: bytes, end: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('data' as const), ref: exchangeRef, chunk: bytes, end: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('error' as const), ref: exchangeRef, code: fc.oneof(fc.constantFrom(...Object.values(ExchangeErrorCode).filter((v): v is number => typeof v === 'number')), fc.integer({ min: 0, max: 1000 })), message: text }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('credit' as const), ref: exchangeRef, bytes: count }) },
  // Ping floods: one batch of thousands of pings is the shape of the 16 MB attack, shrunk.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ping' as const), nonce: fc.maxSafeNat(), times: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 5000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pong' as const), nonce: fc.maxSafeNat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('draining' as const), graceMs: count }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('health' as const), healthy: fc.boolean(), models: fc.array(text, { maxLength: 5 }), error: text }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('register' as const), window: count }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
);

export type Action =
  | { do: 'frames'; frames: FrameSpec[] }
  | { do: 'open'; body: number; end: boolean }
  | { do: 'write'; ref: number; body: number; end: boolean }
  | { do: 'release'; ref: number; bytes: number }
  | { do: 'cancel'; ref: number }
  | { do: 'turn' };

export const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ do: fc.constant('frames' as const), frames: fc.array(frameSpec, { minLength: 1, maxLength: 8 }) }) },
  { weight: 3, arbitrary: fc.record({ do: fc.constant('open' as const), body: fc.oneof(fc.constant(0), fc.nat({ max: 2048 }), fc.nat({ max: 600 * 1024 })), end: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('write' as const), ref: fc.nat({ max: 7 }), body: fc.nat({ max: 300 * 1024 }), end: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('release' as const), ref: fc.nat({ max: 7 }), bytes: fc.oneof(fc.nat({ max: 300 * 1024 }), count) }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('cancel' as const), ref: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.constant({ do: 'turn' as const }) },
);

export const scenario = fc.record({
  /** Register first (the normal case), or a random frame first (refused with INVALID_ARGUMENT). */
  registerFirst: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  registerWindow: count,
  /** An agent that never reads its stream (the non-reading attacker). */
  reads: fc.boolean(),
  answersPings: fc.boolean(),
  actions: fc.array(action, { maxLength: 25 }),
  ending: fc.constantFrom('half-close', 'cancel', 'broker-closes', 'draining-then-half-close'),
});
export type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
