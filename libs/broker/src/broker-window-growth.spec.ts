import { describe, expect, it } from 'vitest';
import type { BrokerFrame } from '@st/proto';
import { GrowthBudget, type TunnelError } from '@st/tunnel-protocol';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';

/** An exchange on a fake stream: window 1,000 bytes each way, growing to 8,000 where allowed. */
function harness(options: { agentWindowLimit?: number; brokerWindowLimit?: number; budget?: GrowthBudget } = {}) {
  const sent: BrokerFrame[] = [];
  const errors: TunnelError[] = [];
  const stream: ExchangeStream = {
    send: (f) => sent.push(f),
    cancelExchange: (exchangeId, reason) => sent.push({ frame: { $case: 'cancel', value: { exchangeId, reason } } }),
    remove: () => undefined,
    writable: true,
    whenWritable: () => new Promise<void>(() => undefined),
    agentWindow: 1000,
    brokerWindow: 1000,
    agentWindowLimit: options.agentWindowLimit,
    brokerWindowLimit: options.brokerWindowLimit,
    growthBudget: options.budget,
    maxChunkBytes: 250,
  };
  const exchange = new BrokerExchange(1, stream, { head: () => undefined, data: () => undefined, error: (e) => errors.push(e) });
  exchange.onHead({ exchangeId: 1, status: 200, headers: [], body: new Uint8Array(0), end: false });
  const credit = () => sent.reduce((n, f) => n + (f.frame?.$case === 'credit' ? f.frame.value.bytes : 0), 0);
  return { exchange, sent, errors, credit };
}

const chunk = (n: number) => ({ exchangeId: 1, chunk: new Uint8Array(n), end: false });

describe('BrokerExchange window growth (issue 9)', () => {
  it('grants an agent more than the initial window while the caller keeps up, and accepts the answer it then sends', () => {
    const { exchange, errors, credit } = harness({ brokerWindowLimit: 8000 });
    // Round trip after round trip, the agent spends its whole credit and the caller drains it at once.
    let allowed = 1000;
    for (let round = 0; round < 6; round++) {
      const before = credit();
      for (let left = allowed; left > 0; left -= 250) {
        exchange.onData(chunk(250));
        exchange.release(250);
      }
      allowed = credit() - before;
    }
    expect(errors).toEqual([]);
    expect(allowed).toBe(8000);
  });

  it('grants no more than consumed to a caller that does not read, and still cuts an agent that sends beyond its credit', () => {
    const { exchange, errors, credit } = harness({ brokerWindowLimit: 8000 });
    for (let i = 0; i < 4; i++) exchange.onData(chunk(250));
    expect(credit()).toBe(0);
    exchange.onData(chunk(1));
    expect(errors.map((e) => e.kind)).toEqual(['protocol']);
  });

  it('lets a protocol-2 agent grow its request-body window up to the limit, and cuts one that goes past it', () => {
    const grown = harness({ agentWindowLimit: 4000 });
    grown.exchange.onCredit(3000);
    expect(grown.errors).toEqual([]);
    const past = harness({ agentWindowLimit: 4000 });
    past.exchange.onCredit(3001);
    expect(past.errors.map((e) => e.kind)).toEqual(['protocol']);
    // A protocol-1 agent (no limit given) keeps the fixed window: growth is a violation there.
    const fixed = harness();
    fixed.exchange.onCredit(1);
    expect(fixed.errors.map((e) => e.kind)).toEqual(['protocol']);
  });

  it("returns the exchange's growth to the stream's budget when it ends", () => {
    const budget = new GrowthBudget(3000);
    const { exchange } = harness({ brokerWindowLimit: 8000, budget });
    for (let i = 0; i < 4; i++) {
      exchange.onData(chunk(250));
      exchange.release(250);
    }
    expect(budget.bytes).toBeLessThan(3000);
    exchange.cancel('done');
    expect(budget.bytes).toBe(3000);
  });

  it("keeps a stalled caller's grown window out of the budget after the agent's end, until the caller took the last bytes", () => {
    const budget = new GrowthBudget(3000);
    const { exchange, errors, sent, credit } = harness({ brokerWindowLimit: 8000, budget });
    for (let i = 0; i < 8; i++) {
      exchange.onData(chunk(250));
      exchange.release(250);
    }
    const drawn = 3000 - budget.bytes;
    expect(drawn).toBeGreaterThan(0);
    // The caller stops reading; the agent spends the rest of its (grown) credit and ends.
    const left = 1000 + credit() - 8 * 250;
    for (let n = left; n > 250; n -= 250) exchange.onData(chunk(250));
    exchange.onData({ exchangeId: 1, chunk: new Uint8Array(left - Math.floor((left - 1) / 250) * 250), end: true });
    expect(errors).toEqual([]);
    expect(budget.bytes).toBe(3000 - drawn);
    // The gateway releases the tail as the response flushes: no credit for an ended exchange.
    const frames = sent.length;
    exchange.release(left - 1);
    expect(budget.bytes).toBe(3000 - drawn);
    exchange.release(1);
    expect(budget.bytes).toBe(3000);
    expect(sent.length).toBe(frames);
  });

  it('gives the growth back once the caller released what it got, when an overrunning agent was cut', () => {
    const budget = new GrowthBudget(3000);
    const { exchange, errors, credit } = harness({ brokerWindowLimit: 8000, budget });
    for (let i = 0; i < 8; i++) {
      exchange.onData(chunk(250));
      exchange.release(250);
    }
    exchange.onData(chunk(100));
    // Beyond the credit: cut, and those bytes never reach the caller, so they are not waited for.
    exchange.onData(chunk(1000 + credit()));
    expect(errors.map((e) => e.kind)).toEqual(['protocol']);
    expect(budget.bytes).toBeLessThan(3000);
    exchange.release(100);
    expect(budget.bytes).toBe(3000);
  });
});
