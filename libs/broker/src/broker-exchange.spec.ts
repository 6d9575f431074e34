import { describe, expect, it } from 'vitest';
import type { BrokerFrame } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';

function harness(window = 100) {
  const sent: BrokerFrame[] = [];
  const got: { data: number; errors: TunnelError[] } = { data: 0, errors: [] };
  const stream: ExchangeStream = {
    send: (f) => sent.push(f),
    remove: () => undefined,
    agentWindow: 1000,
    brokerWindow: window,
    maxChunkBytes: 64,
  };
  const exchange = new BrokerExchange(1, stream, {
    head: (_s, _h, body) => (got.data += body.length),
    data: (chunk) => (got.data += chunk.length),
    error: (e) => got.errors.push(e),
  });
  return { exchange, sent, got };
}

const bytes = (n: number) => new Uint8Array(n);

describe('BrokerExchange flow control', () => {
  it('passes an answer that stays within the window and the credit granted', () => {
    const { exchange, got, sent } = harness(100);
    exchange.onHead({ exchangeId: 1, status: 200, headers: [], body: bytes(60), end: false });
    exchange.release(60); // the client drained: credit goes back to the agent
    expect(sent.some((f) => f.frame?.$case === 'credit')).toBe(true);
    exchange.onData({ exchangeId: 1, chunk: bytes(90), end: false });
    expect(got.errors).toEqual([]);
    expect(got.data).toBe(150);
  });

  it('cuts the answer of an agent that ignores the credit, and tells the agent', () => {
    const { exchange, got, sent } = harness(100);
    exchange.onHead({ exchangeId: 1, status: 200, headers: [], body: bytes(60), end: false });
    exchange.onData({ exchangeId: 1, chunk: bytes(60), end: false });
    expect(got.errors.map((e) => e.kind)).toEqual(['protocol']);
    expect(got.data).toBe(60);
    expect(sent.at(-1)?.frame?.$case).toBe('cancel');
    exchange.onData({ exchangeId: 1, chunk: bytes(1), end: true });
    expect(got.data).toBe(60);
  });

  it('sends a large request body in chunks no larger than the agent granted', async () => {
    const { exchange, sent } = harness();
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: bytes(200), end: true });
    const sizes = sent.map((f) => (f.frame?.$case === 'open' ? f.frame.value.body.length : f.frame?.$case === 'data' ? f.frame.value.chunk.length : -1));
    await new Promise((r) => setImmediate(r));
    const all = sent.map((f) => (f.frame?.$case === 'open' ? f.frame.value.body.length : f.frame?.$case === 'data' ? f.frame.value.chunk.length : 0));
    expect(sizes[0]).toBe(64);
    expect(all.reduce((a, b) => a + b, 0)).toBe(200);
    expect(Math.max(...all)).toBeLessThanOrEqual(64);
  });
});
