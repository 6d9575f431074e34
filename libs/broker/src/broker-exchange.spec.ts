import { describe, expect, it } from 'vitest';
import type { BrokerFrame } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';

function harness(window = 100) {
  const sent: BrokerFrame[] = [];
  const got: { data: number; errors: TunnelError[] } = { data: 0, errors: [] };
  let wake: (() => void) | undefined;
  const stream: ExchangeStream & { writable: boolean; drain(): void } = {
    send: (f) => sent.push(f),
    cancelExchange: (exchangeId, reason) => sent.push({ frame: { $case: 'cancel', value: { exchangeId, reason } } }),
    remove: () => undefined,
    writable: true,
    whenWritable: () => new Promise<void>((resolve) => (wake = resolve)),
    drain() {
      this.writable = true;
      wake?.();
    },
    agentWindow: 1000,
    brokerWindow: window,
    maxChunkBytes: 64,
  };
  const exchange = new BrokerExchange(1, stream, {
    head: (_s, _h, body) => (got.data += body.length),
    data: (chunk) => (got.data += chunk.length),
    error: (e) => got.errors.push(e),
  });
  return { exchange, sent, got, stream };
}

const bodyBytes = (sent: BrokerFrame[]) =>
  sent.reduce((n, f) => n + (f.frame?.$case === 'open' ? f.frame.value.body.length : f.frame?.$case === 'data' ? f.frame.value.chunk.length : 0), 0);
const turn = () => new Promise((r) => setImmediate(r));

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

  it('cuts an answer whose agent sends a second response head, and tells the agent', () => {
    const { exchange, got, sent } = harness(100);
    exchange.onHead({ exchangeId: 1, status: 200, headers: [], body: bytes(10), end: false });
    exchange.onHead({ exchangeId: 1, status: 500, headers: [], body: bytes(10), end: false });
    expect(got.errors.map((e) => e.kind)).toEqual(['protocol']);
    expect(got.data).toBe(10);
    expect(sent.at(-1)?.frame?.$case).toBe('cancel');
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

  it('cuts a request whose agent grants itself credit beyond its announced window', async () => {
    const { exchange, sent, got } = harness();
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: bytes(64), end: false });
    exchange.onCredit(64); // returns what it consumed: fine
    expect(got.errors).toEqual([]);
    exchange.onCredit(4 * 1024 ** 3); // 4 GiB it never announced
    expect(got.errors.map((e) => e.kind)).toEqual(['protocol']);
    expect(got.errors[0].message).toMatch(/more than its announced window of 1000/);
    expect(sent.at(-1)?.frame?.$case).toBe('cancel');
    // Nothing more of the body is sent, whatever the caller writes.
    const before = bodyBytes(sent);
    await exchange.write(bytes(5000), true);
    expect(bodyBytes(sent)).toBe(before);
  });

  it('pauses the request body while the stream does not drain, whatever the credit', async () => {
    const { exchange, sent, stream } = harness();
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: bytes(0), end: false });
    stream.writable = false;
    let done = false;
    const writing = exchange.write(bytes(500), true).then(() => (done = true));
    await turn();
    await turn();
    expect(done).toBe(false);
    expect(bodyBytes(sent)).toBe(0); // credit for 1000 bytes, and yet nothing went out
    stream.drain();
    await writing;
    expect(bodyBytes(sent)).toBe(500);
  });

  it('wakes a body write that waits for the stream when the exchange ends', async () => {
    const { exchange, stream } = harness();
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: bytes(0), end: false });
    stream.writable = false;
    const writing = exchange.write(bytes(500), true);
    await turn();
    exchange.cancel('the caller went away');
    await writing; // resolves: the uploader is not left waiting on a stream that may never drain
  });

  it('sends the Open of a request without its body while the stream does not drain, and the body once it does', async () => {
    const { exchange, sent, stream } = harness();
    stream.writable = false;
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: bytes(200), end: true });
    await turn();
    expect(sent.map((f) => f.frame?.$case)).toEqual(['open']);
    expect(bodyBytes(sent)).toBe(0);
    stream.drain();
    await turn();
    expect(bodyBytes(sent)).toBe(200);
    const last = sent.at(-1)?.frame;
    expect(last?.$case === 'data' && last.value.end).toBe(true);
  });
});

describe('BrokerExchange and the message buffers under body chunks', () => {
  it('hands the gateway a tiny chunk padded into a huge message without the message buffer under it', () => {
    const stream: ExchangeStream = {
      send: () => undefined,
      cancelExchange: () => undefined,
      remove: () => undefined,
      writable: true,
      whenWritable: () => Promise.resolve(),
      agentWindow: 1000,
      brokerWindow: 1000,
      maxChunkBytes: 64,
    };
    const got: Uint8Array[] = [];
    const exchange = new BrokerExchange(1, stream, {
      head: (_s, _h, body) => got.push(body),
      data: (chunk) => got.push(chunk),
      error: () => undefined,
    });
    // What the decoder hands out: views into a 2 MiB message of unknown fields around 1-byte bodies.
    const message = new Uint8Array(2 * 1024 * 1024).fill(7);
    exchange.onHead({ exchangeId: 1, status: 200, headers: [], body: message.subarray(10, 11), end: false });
    exchange.onData({ exchangeId: 1, chunk: message.subarray(500, 501), end: false });
    // A chunk that is most of its message stays as it is: honest answers are not copied.
    const whole = new Uint8Array(800).fill(9);
    exchange.onData({ exchangeId: 1, chunk: whole.subarray(0, 700), end: true });
    expect(got.map((c) => c.buffer === message.buffer)).toEqual([false, false, false]);
    expect(got.map((c) => Array.from(c))).toEqual([[7], [7], Array.from(whole.subarray(0, 700))]);
    expect(got[2].buffer).toBe(whole.buffer);
  });
});
