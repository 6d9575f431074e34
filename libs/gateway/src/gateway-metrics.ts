import type { Server, ServerResponse } from 'node:http';
import type { ExchangeSink } from '@st/broker';
import { type CounterChild, type CounterVec, type HistogramChild, LIMIT_REFUSALS, type MetricsRegistry, SECONDS_BUCKETS, TOKEN_RATE_BUCKETS } from '@st/metrics';
import type { Header } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import type { GatewayMeter, MeteredRequest } from './gateway-meter';
import { GATEWAY_LIMITS, type GatewayLimit, limitOf } from './refusal-limit';
import { KIND_CHAT, KIND_COMPLETIONS, KIND_OTHER, KIND_PLAIN, ROUTE_KINDS, routeKindOf } from './route-kind';
import { CONTENT_FIELD, StreamTokens, TEXT_FIELD } from './stream-tokens';

/** The code counted for a response whose connection closed before it was complete (nginx's). */
export const CLIENT_CLOSED = 499;

/**
 * The gateway's Prometheus metrics. Per request: one small object (this file's RequestMeter,
 * which is also the exchange's sink) and a few number updates on children bound once; labels are
 * indexes into bounded lists, never strings built per request.
 */
export class GatewayMetrics implements GatewayMeter {
  private readonly requests: CounterVec;
  /** Children of st_gateway_requests_total by kind * 600 + status, made on first use. */
  private readonly requestChildren: (CounterChild | undefined)[] = [];
  readonly duration: HistogramChild[];
  readonly firstByte: HistogramChild[];
  readonly tokenRate: HistogramChild[];
  private readonly errors: CounterVec;
  private readonly errorChildren = new Map<string, CounterChild>();
  private readonly refusals = new Map<GatewayLimit, CounterChild>();

  constructor(registry: MetricsRegistry) {
    this.requests = registry.counter({
      name: 'st_gateway_requests_total',
      help: `Requests to tunnels and /v1 by kind (${ROUTE_KINDS.join(', ')}) and HTTP status code (${CLIENT_CLOSED}: the client left before the answer was complete)`,
      labelNames: ['kind', 'code'],
    });
    const byKind = (name: string, help: string, buckets: number[]) => {
      const h = registry.histogram({ name, help, buckets, labelNames: ['kind'] });
      return ROUTE_KINDS.map((k) => h.child(k));
    };
    this.duration = byKind('st_gateway_request_duration_seconds', 'Time from a request to the end of its answer, by kind', SECONDS_BUCKETS);
    this.firstByte = byKind(
      'st_gateway_time_to_first_byte_seconds',
      "Time from a request to the first byte of the model server's answer body (its head when the body is empty), by kind",
      SECONDS_BUCKETS,
    );
    this.tokenRate = byKind(
      'st_gateway_stream_tokens_per_second',
      "Tokens per second of a streamed chat or completions answer that ended well, from its first token to its end: the usage object's completion_tokens when the stream carries it, else its content fields counted (exactly in its first 4 KiB, by size after that), by kind",
      TOKEN_RATE_BUCKETS,
    );
    this.errors = registry.counter({
      name: 'st_gateway_exchange_errors_total',
      help: 'Exchanges that failed or broke off, by error (the OpenAI error code the caller saw, or the SSE error event)',
      labelNames: ['error'],
    });
    const refusals = registry.counter(LIMIT_REFUSALS);
    for (const limit of GATEWAY_LIMITS) this.refusals.set(limit, refusals.child(limit));
  }

  request(url: string, res: ServerResponse): MeteredRequest {
    const meter = new RequestMeter(this, routeKindOf(url), res);
    // 'close' comes once per response; `once` would wrap the listener in more closures.
    res.on('close', meter.onClose);
    return meter;
  }

  plain(request: MeteredRequest): void {
    if (request instanceof RequestMeter) request.kind = KIND_PLAIN;
  }

  sink(request: MeteredRequest, responder: ExchangeSink): ExchangeSink {
    if (!(request instanceof RequestMeter)) return responder;
    request.inner = responder;
    return request;
  }

  rejected(error: TunnelError): void {
    const limit = limitOf(error);
    if (limit) this.refusals.get(limit)!.inc();
  }

  watch(server: Server): void {
    const child = this.refusals.get('max_connections')!;
    server.on('drop', () => child.inc());
  }

  /** Called once per response, when it closes. */
  closed(meter: RequestMeter, res: ServerResponse): void {
    this.count(meter.kind, res.writableFinished ? res.statusCode : CLIENT_CLOSED);
    this.duration[meter.kind].observe((performance.now() - meter.start) / 1000);
  }

  /** Counted as kind `other`: no URL was read (the headers never came whole) or none was served. */
  protocolError(status: number): void {
    this.count(KIND_OTHER, status);
  }

  private count(kind: number, status: number): void {
    const index = kind * 600 + (status >= 0 && status < 600 ? status : 0);
    let child = this.requestChildren[index];
    if (!child) this.requestChildren[index] = child = this.requests.child(ROUTE_KINDS[kind], String(status));
    child.inc();
  }

  exchangeError(error: TunnelError): void {
    let child = this.errorChildren.get(error.kind);
    if (!child) this.errorChildren.set(error.kind, (child = this.errors.child(error.kind)));
    child.inc();
    // A body over ST_MAX_BODY or stalled is found while it streams: the error comes this way.
    this.rejected(error);
  }
}

const EVENT_STREAM = /^text\/event-stream/i;

/**
 * One request's timing, and the sink in front of its responder: it sees the head and every chunk
 * on their way to the client (forwarding first, so the client waits for nothing of this).
 */
class RequestMeter implements ExchangeSink {
  readonly start = performance.now();
  inner: ExchangeSink | undefined;
  private firstByteSeen = false;
  /** The tokens of an SSE answer of a chat or completions request. */
  private tokens: StreamTokens | undefined;

  constructor(
    readonly owner: GatewayMetrics,
    public kind: number,
    private readonly res: ServerResponse,
  ) {}

  /** The response's 'close' listener (it comes once). */
  readonly onClose = (): void => this.owner.closed(this, this.res);

  head(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.inner!.head(status, headers, body, end);
    if (status === 200 && (this.kind === KIND_CHAT || this.kind === KIND_COMPLETIONS) && isEventStream(headers)) {
      this.tokens = new StreamTokens(this.kind === KIND_CHAT ? CONTENT_FIELD : TEXT_FIELD);
    }
    this.seen(body, end);
  }

  data(chunk: Uint8Array, end: boolean): void {
    this.inner!.data(chunk, end);
    this.seen(chunk, end);
  }

  error(error: TunnelError): void {
    this.inner!.error(error);
    this.tokens = undefined;
    this.owner.exchangeError(error);
  }

  private seen(chunk: Uint8Array, end: boolean): void {
    if (!this.firstByteSeen && (chunk.length > 0 || end)) {
      this.firstByteSeen = true;
      this.owner.firstByte[this.kind].observe((performance.now() - this.start) / 1000);
    }
    const tokens = this.tokens;
    if (!tokens) return;
    tokens.chunk(chunk, now);
    if (!end) return;
    this.tokens = undefined;
    const rate = tokens.rate(performance.now());
    if (rate !== undefined) this.owner.tokenRate[this.kind].observe(rate);
  }
}

const now = () => performance.now();

/**
 * The answer is `text/event-stream`. A first-letter check before anything else: the profile of
 * c=64 JSON answers showed a case-insensitive regex test on every head costing more than the
 * rest of this file together.
 */
function isEventStream(headers: Header[]): boolean {
  for (const h of headers) {
    if (h.name !== 'content-type') continue;
    const c = h.value.charCodeAt(0);
    return (c === 116 || c === 84) /* t, T */ && EVENT_STREAM.test(h.value);
  }
  return false;
}
