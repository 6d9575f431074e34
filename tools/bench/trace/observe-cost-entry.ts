// In-process cost of usage accounting and the gateway's metrics per request, with no sockets and
// no other process: a small non-streamed chat completion's request and answer (as the bench's
// c=64 phase sends them, a body with "stream": false and vLLM's answer shape) go through the
// gateway's usage path (openExchange: usageRequestOf, MeteredExchange, the usage read, the
// batcher) and its RequestMeter, against an opener that answers at once. What the bench's
// observability section cannot resolve on a noisy machine (two processes differ by more than the
// 5 % it judges), this measures by itself: ns per request of each setting, in one process.
// Run through observe-cost.mjs (which bundles this file); argv: off | usage | metrics | both.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { ExchangeOpener, ExchangeRequestHead, ExchangeSink } from '@st/broker';
import { GatewayMetrics, JsonObjectScanner, UsageBatcher, openExchange } from '@st/gateway';
import { createLogger } from '@st/logging';
import { MetricsRegistry } from '@st/metrics';
import type { Tunnel } from '@st/store';

const ANSWER = Buffer.from(
  '{"id":"chatcmpl-be67e4113f247e71264bdf3c38983da7","object":"chat.completion","created":1796300791,"model":"mock-llama-3-8b","choices":[{"index":0,"message":{"role":"assistant","content":" lorem in eiusmod sint ad mollit ex sit velit ut non quis est consequat adipiscing fugiat"},"finish_reason":"length","logprobs":null}],"usage":{"prompt_tokens":2,"completion_tokens":16,"total_tokens":18}}',
);
const HEADERS = [
  { name: 'content-type', value: 'application/json' },
  { name: 'content-length', value: String(ANSWER.length) },
  { name: 'date', value: 'Thu, 03 Dec 2026 12:26:31 GMT' },
  { name: 'connection', value: 'keep-alive' },
  { name: 'keep-alive', value: 'timeout=5' },
];
const BODY = Buffer.from(JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'hello there, how are you' }], max_tokens: 16, stream: false }));

const mode = process.argv[2] ?? 'both';
if (!['off', 'usage', 'metrics', 'both'].includes(mode)) throw new Error(`mode must be off, usage, metrics or both, not ${mode}`);
const useUsage = mode === 'usage' || mode === 'both';
const useMetrics = mode === 'metrics' || mode === 'both';
const requests = Number(process.env.REQUESTS) || 1_000_000;
const rounds = Number(process.env.ROUNDS) || 7;

const scanner = new JsonObjectScanner(64);
scanner.push(BODY);
scanner.end();
// The model and stream members the gateway's body check found, as gateway-server passes them on.
const checked = { span: scanner.model, count: scanner.modelCount, stream: scanner.streamMembers };
const noop = { write: async () => undefined, release: () => undefined, cancel: () => undefined };
const opener: ExchangeOpener = {
  open(_target, _head, sink) {
    sink.head(200, HEADERS, ANSWER, true);
    return noop;
  },
};
const logger = createLogger({ name: 'observe-cost', level: 'silent' });
const batcher = new UsageBatcher({ writer: { addUsage: async () => undefined }, logger });
const tunnel = { id: 't-1', name: 'demo', openai: true } as Tunnel;
const target = { tunnelId: 't-1', userId: 'u-1' };
const head: ExchangeRequestHead = { requestId: 'r-1', method: 'POST', path: '/v1/chat/completions', query: '', headers: [], body: BODY, end: true };
const responder: ExchangeSink = { head: () => undefined, data: () => undefined, error: () => undefined };
const metrics = new GatewayMetrics(new MetricsRegistry({ defaultMetrics: false }));

/** What the gateway's RequestMeter reads of a response. */
class FinishedResponse extends EventEmitter {
  writableFinished = true;
  statusCode = 200;
}

function one(): void {
  let sink = responder;
  let res: FinishedResponse | undefined;
  if (useMetrics) {
    res = new FinishedResponse();
    sink = metrics.sink(metrics.request('/t/demo/v1/chat/completions', res as unknown as ServerResponse), responder);
  }
  openExchange(opener, useUsage ? batcher : undefined, logger, tunnel, BODY, target, head, sink, checked);
  res?.emit('close');
}

const perRound: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) one();
  perRound.push(Number(process.hrtime.bigint() - t0) / requests);
}
// The first rounds warm the JIT up: the median of the later ones.
const later = perRound.slice(Math.min(2, rounds - 1)).sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ mode, nsPerRequest: later[Math.floor(later.length / 2)], rounds: perRound.map((x) => Math.round(x)) })}\n`);
process.exit(0);
