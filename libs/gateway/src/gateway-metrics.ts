import type { Server, ServerResponse } from 'node:http';
import type { ExchangeSink } from '@st/broker';
import { type CounterChild, type CounterVec, type HistogramChild, LIMIT_REFUSALS, type MetricsRegistry, SECONDS_BUCKETS, TOKEN_RATE_BUCKETS } from '@st/metrics';
import type { Header } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import type { GatewayMeter } from './gateway-meter';
import { GATEWAY_LIMITS, type GatewayLimit, limitOf } from './refusal-limit';
import { KIND_CHAT, KIND_COMPLETIONS, KIND_PLAIN, ROUTE_KINDS, routeKindOf } from './route-kind';

/** The code counted for a response whose connection closed before it was complete (nginx's). */
export const CLIENT_CLOSED = 499;

const METER = Symbol('st.requestMeter');
type Metered = ServerResponse & { [METER]?: RequestMeter };

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
      'Content chunks per second of a streamed answer that ended well (about one token each), from its first chunk to its last, by kind',
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

  request(url: string, res: ServerResponse): void {
    const meter = new RequestMeter(this, routeKindOf(url));
    (res as Metered)[METER] = meter;
    // 'close' comes once per response; `once` would wrap the listener in a closure per request.
    res.on('close', onClose);
  }

  plain(res: ServerResponse): void {
    const meter = (res as Metered)[METER];
    if (meter) meter.kind = KIND_PLAIN;
  }

  sink(res: ServerResponse, responder: ExchangeSink): ExchangeSink {
    const meter = (res as Metered)[METER];
    if (!meter) return responder;
    meter.inner = responder;
    return meter;
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
    const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED;
    const index = meter.kind * 600 + (status >= 0 && status < 600 ? status : 0);
    let child = this.requestChildren[index];
    if (!child) this.requestChildren[index] = child = this.requests.child(ROUTE_KINDS[meter.kind], String(status));
    child.inc();
    this.duration[meter.kind].observe((performance.now() - meter.start) / 1000);
  }

  exchangeError(error: TunnelError): void {
    let child = this.errorChildren.get(error.kind);
    if (!child) this.errorChildren.set(error.kind, (child = this.errors.child(error.kind)));
    child.inc();
    // A body over ST_MAX_BODY or stalled is found while it streams: the error comes this way.
    this.rejected(error);
  }
}

function onClose(this: ServerResponse): void {
  const meter = (this as Metered)[METER];
  if (!meter) return;
  (this as Metered)[METER] = undefined;
  meter.owner.closed(meter, this);
}

const EVENT_STREAM = /^text\/event-stream/i;
const CONTENT = Buffer.from('"content":"');
const TEXT = Buffer.from('"text":"');
const QUOTE = 34;

/**
 * One request's timing, and the sink in front of its responder: it sees the head and every chunk
 * on their way to the client (forwarding first, so the client waits for nothing of this).
 */
class RequestMeter implements ExchangeSink {
  readonly start = performance.now();
  inner: ExchangeSink | undefined;
  private firstByteSeen = false;
  /** Counting content chunks of an SSE answer of a chat or completions request. */
  private counting: Buffer | undefined;
  private chunks = 0;
  private firstChunkAt = 0;
  private lastChunkAt = 0;

  constructor(
    readonly owner: GatewayMetrics,
    public kind: number,
  ) {}

  head(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.inner!.head(status, headers, body, end);
    if (status === 200 && (this.kind === KIND_CHAT || this.kind === KIND_COMPLETIONS) && isEventStream(headers)) {
      this.counting = this.kind === KIND_CHAT ? CONTENT : TEXT;
    }
    this.seen(body, end);
  }

  data(chunk: Uint8Array, end: boolean): void {
    this.inner!.data(chunk, end);
    this.seen(chunk, end);
  }

  error(error: TunnelError): void {
    this.inner!.error(error);
    this.counting = undefined;
    this.owner.exchangeError(error);
  }

  private seen(chunk: Uint8Array, end: boolean): void {
    if (!this.firstByteSeen && (chunk.length > 0 || end)) {
      this.firstByteSeen = true;
      this.owner.firstByte[this.kind].observe((performance.now() - this.start) / 1000);
    }
    if (!this.counting) return;
    if (chunk.length > 0) {
      const n = countContent(chunk, this.counting);
      if (n > 0) {
        const now = performance.now();
        if (this.chunks === 0) this.firstChunkAt = now;
        this.lastChunkAt = now;
        this.chunks += n;
      }
    }
    if (end) {
      // (n - 1) intervals between n chunks: the generation rate, without the time to the first.
      const seconds = (this.lastChunkAt - this.firstChunkAt) / 1000;
      if (this.chunks >= 2 && seconds > 0) this.owner.tokenRate[this.kind].observe((this.chunks - 1) / seconds);
      this.counting = undefined;
    }
  }
}

function isEventStream(headers: Header[]): boolean {
  for (const h of headers) if (h.name === 'content-type') return EVENT_STREAM.test(h.value);
  return false;
}

/**
 * Non-empty `"content":"` (chat) or `"text":"` (completions) fields in a chunk of SSE: about one
 * per token. Such a sequence cannot occur inside a JSON string (its quotes would be escaped), and
 * `"reasoning_content":"` does not match. Buffer.indexOf runs natively; a chunk is an event or few.
 */
export function countContent(chunk: Uint8Array, pattern: Buffer): number {
  const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let n = 0;
  let at = buf.indexOf(pattern);
  while (at !== -1) {
    const next = at + pattern.length;
    if (next < buf.length && buf[next] !== QUOTE) n++;
    at = buf.indexOf(pattern, next);
  }
  return n;
}
