import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import { silentLogger } from '@st/logging';
import type { Header } from '@st/proto';
import { TunnelError } from '@st/tunnel-protocol';
import { describe, expect, it } from 'vitest';
import { MeteredExchange } from './metered-exchange';
import type { UsageEntry } from './usage-recorder';
import { usageRequestOf } from './usage-request';

const SSE: Header[] = [{ name: 'content-type', value: 'text/event-stream' }];
const JSON_TYPE: Header[] = [{ name: 'content-type', value: 'application/json' }];
const CHAT = '/v1/chat/completions';

/** An opener whose exchanges the test answers by hand; counts the credit given back to each. */
class HandOpener implements ExchangeOpener {
  readonly opened: { head: ExchangeRequestHead; sink: ExchangeSink; released: number; cancelled?: string }[] = [];
  open(_target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const entry: (typeof this.opened)[number] = { head, sink, released: 0 };
    this.opened.push(entry);
    return {
      write: () => Promise.resolve(),
      release: (n) => (entry.released += n),
      cancel: (reason) => (entry.cancelled = reason),
    };
  }
}

/** The responder's side: what the caller got; it gives back credit for every byte, as the responder does. */
class Caller implements ExchangeSink {
  status = 0;
  bytes: Buffer[] = [];
  ended = false;
  failed: TunnelError | undefined;
  exchange!: Exchange;
  head(status: number, _h: Header[], body: Uint8Array, end: boolean): void {
    this.status = status;
    this.data(body, end);
  }
  data(chunk: Uint8Array, end: boolean): void {
    this.bytes.push(Buffer.from(chunk));
    this.ended ||= end;
    queueMicrotask(() => this.exchange.release(chunk.length));
  }
  error(error: TunnelError): void {
    this.failed = error;
  }
  get text(): string {
    return Buffer.concat(this.bytes).toString();
  }
}

function meter(body: string) {
  const opener = new HandOpener();
  const caller = new Caller();
  const entries: UsageEntry[] = [];
  const original = Buffer.from(body);
  const head: ExchangeRequestHead = { requestId: 'r1', method: 'POST', path: CHAT, query: '', headers: [], body: original, end: true };
  caller.exchange = MeteredExchange.open(opener, { tunnelId: 't-1', userId: 'u-1' }, head, caller, {
    recorder: { record: (e) => entries.push(e) },
    logger: silentLogger(),
    userId: 'u-1',
    tunnelId: 't-1',
    tunnelName: 'gpu',
    request: usageRequestOf(CHAT, original),
  });
  return { opener, caller, entries };
}

const chunk = (content: string, usage: boolean) =>
  `data: {"choices":[{"index":0,"delta":{"content":"${content}"}}]${usage ? ',"usage":null' : ''}}\n\n`;
const USAGE_EVENT = 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}\n\n';
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('MeteredExchange', () => {
  it('asks for usage, hides it from a caller who did not, counts it, and gives back every byte of credit', async () => {
    const { opener, caller, entries } = meter('{"model":"m","stream":true}');
    expect(JSON.parse(opener.opened[0].head.body.toString())).toEqual({ model: 'm', stream: true, stream_options: { include_usage: true } });
    const upstream = [chunk('Hel', true), chunk('lo', true).slice(0, 9), chunk('lo', true).slice(9), USAGE_EVENT, 'data: [DONE]\n\n'];
    const { sink } = opener.opened[0];
    sink.head(200, SSE, Buffer.from(upstream[0]), false);
    for (const [i, part] of upstream.slice(1).entries()) sink.data(Buffer.from(part), i === upstream.length - 2);
    await settle();
    expect(caller.text).toBe(chunk('Hel', false) + chunk('lo', false) + 'data: [DONE]\n\n');
    expect(entries).toEqual([{ userId: 'u-1', tunnelId: 't-1', tunnelName: 'gpu', model: 'm', promptTokens: 7, completionTokens: 2 }]);
    expect(opener.opened[0].released).toBe(upstream.join('').length);
  });

  it('asks once more without stream_options when the model server refuses them, before the caller sees anything', async () => {
    const body = '{"model":"m","stream":true}';
    const { opener, caller, entries } = meter(body);
    const refusal = '{"error":{"message":"Extra inputs are not permitted: stream_options","type":"invalid_request_error","param":"stream_options","code":400}}';
    opener.opened[0].sink.head(400, JSON_TYPE, Buffer.from(refusal.slice(0, 20)), false);
    opener.opened[0].sink.data(Buffer.from(refusal.slice(20)), true);
    expect(caller.status).toBe(0);
    expect(opener.opened).toHaveLength(2);
    expect(opener.opened[1].head.body.toString()).toBe(body);
    expect(opener.opened[0].released).toBe(refusal.length);
    opener.opened[1].sink.head(200, SSE, Buffer.from(chunk('a', false) + 'data: [DONE]\n\n'), true);
    expect(caller.status).toBe(200);
    expect(caller.text).toBe(chunk('a', false) + 'data: [DONE]\n\n');
    expect(entries).toEqual([expect.objectContaining({ promptTokens: 0, completionTokens: 0 })]);
  });

  it('passes any other 400 through and never retries twice', () => {
    const { opener, caller, entries } = meter('{"model":"m","stream":true}');
    const other = '{"error":{"message":"messages is required"}}';
    opener.opened[0].sink.head(400, JSON_TYPE, Buffer.from(other), true);
    expect(opener.opened).toHaveLength(1);
    expect(caller.status).toBe(400);
    expect(caller.text).toBe(other);
    expect(entries).toHaveLength(1);
  });

  it('counts a plain JSON answer from its usage object, passing it untouched', () => {
    const { opener, caller, entries } = meter('{"model":"m"}');
    expect(opener.opened[0].head.body.toString()).toBe('{"model":"m"}');
    const answer = '{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}';
    opener.opened[0].sink.head(200, JSON_TYPE, Buffer.from(answer), true);
    expect(caller.text).toBe(answer);
    expect(entries).toEqual([expect.objectContaining({ promptTokens: 3, completionTokens: 4 })]);
  });

  it('counts an answer cut short by the caller with what was seen, once, and an answer that never began not at all', () => {
    const cut = meter('{"model":"m","stream":true,"stream_options":{"include_usage":true}}');
    cut.opener.opened[0].sink.head(200, SSE, Buffer.from(chunk('a', true)), false);
    cut.caller.exchange.cancel('client disconnected');
    cut.caller.exchange.cancel('client disconnected');
    expect(cut.opener.opened[0].cancelled).toBe('client disconnected');
    expect(cut.entries).toEqual([expect.objectContaining({ promptTokens: 0, completionTokens: 0 })]);

    const never = meter('{"model":"m"}');
    never.opener.opened[0].sink.error(new TunnelError('no_agent', 'no agent'));
    expect(never.caller.failed?.kind).toBe('no_agent');
    expect(never.entries).toEqual([]);
  });

  it('counts an answer that broke off after it began, and gives back the credit of a line it held', () => {
    const { opener, caller, entries } = meter('{"model":"m","stream":true}');
    opener.opened[0].sink.head(200, SSE, Buffer.from(chunk('a', true) + 'data: {"choi'), false);
    opener.opened[0].sink.error(new TunnelError('stream_lost', 'agent gone'));
    expect(caller.failed?.kind).toBe('stream_lost');
    expect(entries).toHaveLength(1);
    expect(opener.opened[0].released).toBe('data: {"choi'.length + ',"usage":null'.length);
  });

  it('passes a plain answer on before it is scanned and recorded, and a cancel from the responder then cancels nothing', () => {
    const { opener, caller, entries } = meter('{"model":"m"}');
    const answer = '{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":1}}';
    const recordedWhenPassed: number[] = [];
    const head = caller.head.bind(caller);
    caller.head = (status, headers, body, end) => {
      recordedWhenPassed.push(entries.length);
      head(status, headers, body, end);
      caller.exchange.cancel('invalid response head'); // what the responder does with a head HTTP cannot carry
    };
    opener.opened[0].sink.head(200, JSON_TYPE, Buffer.from(answer), true);
    expect(recordedWhenPassed).toEqual([0]);
    expect(caller.text).toBe(answer);
    expect(opener.opened[0].cancelled).toBeUndefined();
    expect(entries).toEqual([expect.objectContaining({ model: 'm', promptTokens: 3, completionTokens: 1 })]);
  });
});
