import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { Logger } from '@st/logging';
import type { Header } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import type { TokenCounts } from './usage-counts';
import { JsonUsageScanner, wholeAnswerUsage } from './usage-json';
import type { UsageRecorder } from './usage-recorder';
import type { UsageRequest } from './usage-request';
import { SseUsageTap } from './usage-sse';

/** Who and what a metered request is counted for. */
export interface MeterContext {
  recorder: UsageRecorder;
  logger: Logger;
  userId: string;
  tunnelId: string;
  tunnelName: string;
  request: UsageRequest;
}

/**
 * A refusal of the added stream_options is a small OpenAI error body; a larger 400 is something
 * else, and is passed on once this much of it has been looked at.
 */
const MAX_REFUSAL_BYTES = 16 * 1024;
/** How a model server that does not know stream_options words its 400 (vLLM, pydantic, OpenAI). */
const STREAM_OPTIONS_REFUSAL = /stream[_ ]options/i;

interface HeldRefusal {
  status: number;
  headers: Header[];
  parts: Uint8Array[];
  bytes: number;
}

/**
 * One exchange of an OpenAI route whose answer is counted (usage accounting). It stands between
 * the gateway's responder and the opener: the answer passes through a usage tap (SSE or JSON)
 * and, once it is over in any way (end, break-off, cancel), one entry goes to the recorder, which
 * batches it to the store off the request path. Nothing here waits on anything.
 *
 * When the gateway added `stream_options.include_usage` (the caller did not ask for usage), the
 * tap strips what the caller did not ask for, and a model server that refuses stream_options
 * (a 400 saying so) is asked once more with the caller's own body, before any byte of the refusal
 * reached the caller. The body travels whole in the head (JSON bodies are read before they are
 * sent), so the retry can always send it again.
 */
export class MeteredExchange implements Exchange, ExchangeSink {
  private inner: Exchange | undefined;
  private pendingRelease = 0;
  private attempt = 0;
  private over = false;
  private answered = false;
  private headSent = false;
  private recorded = false;
  private retried = false;
  private refusal: HeldRefusal | undefined;
  private sse: SseUsageTap | undefined;
  /** The scanner of a plain answer that comes in parts. */
  private json: JsonUsageScanner | undefined;
  /** The usage of a plain answer that came whole in the head. */
  private jsonCounts: TokenCounts | undefined;

  private constructor(
    private readonly opener: ExchangeOpener,
    private readonly target: ExchangeTarget,
    private readonly requestHead: ExchangeRequestHead,
    private readonly sink: ExchangeSink,
    private readonly ctx: MeterContext,
  ) {}

  /** Opens the exchange with the metered body (`ctx.request.body`); `head.body` is the caller's. */
  static open(opener: ExchangeOpener, target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink, ctx: MeterContext): MeteredExchange {
    const exchange = new MeteredExchange(opener, target, head, sink, ctx);
    exchange.openAttempt(ctx.request.body);
    return exchange;
  }

  write(chunk: Uint8Array, end: boolean): Promise<void> {
    return this.inner ? this.inner.write(chunk, end) : Promise.resolve();
  }

  release(bytes: number): void {
    this.releaseInner(bytes);
  }

  cancel(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.inner?.cancel(reason);
    this.settle();
  }

  private openAttempt(body: Uint8Array): void {
    const n = ++this.attempt;
    this.inner = undefined;
    // The sink may be called before open returns (an opener that fails at once).
    const head = body === this.requestHead.body ? this.requestHead : { ...this.requestHead, body };
    // The first attempt's sink is this exchange itself, as it is for every request but a retried
    // one (c=64 profiles showed the object of three closures per request); a retry's is its own.
    const exchange = this.opener.open(this.target, head, n === 1 ? this : this.attemptSink(n));
    if (n !== this.attempt) return;
    this.inner = exchange;
    if (this.pendingRelease > 0) {
      exchange.release(this.pendingRelease);
      this.pendingRelease = 0;
    }
    if (this.over) exchange.cancel('client disconnected');
  }

  /** The first attempt's sink (see openAttempt). */
  head(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.attemptHead(1, status, headers, body, end);
  }

  /** The first attempt's sink (see openAttempt). */
  data(chunk: Uint8Array, end: boolean): void {
    this.attemptData(1, chunk, end);
  }

  /** The first attempt's sink (see openAttempt). */
  error(error: TunnelError): void {
    this.attemptError(1, error);
  }

  /** A later attempt's sink: calls of an earlier attempt are then ignored. */
  private attemptSink(n: number): ExchangeSink {
    return {
      head: (status, headers, body, end) => this.attemptHead(n, status, headers, body, end),
      data: (chunk, end) => this.attemptData(n, chunk, end),
      error: (error) => this.attemptError(n, error),
    };
  }

  private attemptHead(n: number, status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    if (n !== this.attempt || this.over) return;
    if (status === 400 && this.ctx.request.askedForUsage && !this.retried) {
      this.refusal = { status, headers, parts: [body], bytes: body.length };
      if (end) this.refusalEnded();
      return;
    }
    this.begin(status, headers, body, end);
  }

  private attemptData(n: number, chunk: Uint8Array, end: boolean): void {
    if (n !== this.attempt || this.over) return;
    const held = this.refusal;
    if (!held) return this.pass(chunk, end);
    held.parts.push(chunk);
    held.bytes += chunk.length;
    if (end) this.refusalEnded();
    else if (held.bytes > MAX_REFUSAL_BYTES) this.passRefusal(false);
  }

  private attemptError(n: number, error: TunnelError): void {
    if (n !== this.attempt || this.over) return;
    if (this.refusal) this.passRefusal(false);
    this.over = true;
    this.settle();
    this.sink.error(error);
  }

  /** The held 400 is complete: a refusal of stream_options is retried without it, else passed on. */
  private refusalEnded(): void {
    const held = this.refusal!;
    const text = Buffer.concat(held.parts).toString('utf8');
    if (!STREAM_OPTIONS_REFUSAL.test(text)) return this.passRefusal(true);
    this.refusal = undefined;
    this.retried = true;
    this.releaseInner(held.bytes);
    this.ctx.logger.info(
      { requestId: this.requestHead.requestId, tunnelId: this.ctx.tunnelId },
      'the model server refused stream_options: sending the request again as the caller wrote it (its streamed usage is not counted)',
    );
    this.openAttempt(this.requestHead.body);
  }

  private passRefusal(end: boolean): void {
    const held = this.refusal!;
    this.refusal = undefined;
    this.begin(held.status, held.headers, held.parts.length === 1 ? held.parts[0] : Buffer.concat(held.parts), end);
  }

  private begin(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.answered = true;
    let json = false;
    if (status >= 200 && status < 300) {
      const kind = answerKindOf(headers);
      // Stripped only when the gateway asked for usage on the caller's behalf and that request went out.
      if (kind === SSE) this.sse = new SseUsageTap(this.ctx.request.askedForUsage && !this.retried);
      else if (kind === JSON_ANSWER) json = true;
    }
    // A plain answer in parts is scanned as they pass; one held whole is read after it is passed on.
    if (json && !end) this.json = new JsonUsageScanner();
    const out = this.strip(body, end);
    // Over before the answer is passed on, as a cancel from the responder must find it; counted
    // after: the JSON read and the record are no part of the caller's wait (issue 9, c=1).
    if (end) this.over = true;
    this.headSent = true;
    this.sink.head(status, headers, out, end);
    if (json && end) this.jsonCounts = wholeAnswerUsage(body);
    this.count(body, end);
  }

  private pass(chunk: Uint8Array, end: boolean): void {
    const out = this.strip(chunk, end);
    if (end) this.over = true;
    // A chunk that was all held (the start of a line) has nothing to pass yet.
    if (out.length > 0 || end) this.sink.data(out, end);
    this.count(chunk, end);
  }

  /** Feeds a plain answer's bytes (which pass unchanged) to its scanner; records at the end. */
  private count(chunk: Uint8Array, end: boolean): void {
    if (this.json) this.json.push(chunk);
    if (end) this.finish();
  }

  /** The bytes to pass on for `chunk`; what the SSE tap removed is given back to the agent at once. */
  private strip(chunk: Uint8Array, end: boolean): Uint8Array {
    if (!this.sse) return chunk;
    const { out: cut, lead, dropped } = this.sse.push(chunk);
    if (dropped > 0) this.releaseInner(dropped);
    let out = cut;
    // A line begun in an earlier chunk: passed apart (a write more, rather than a copy of the chunk).
    if (lead) {
      if (this.headSent) this.sink.data(lead, false);
      else out = Buffer.concat([lead, cut]);
    }
    if (!end) return out;
    const rest = this.sse.end().out;
    return rest.length === 0 ? out : Buffer.concat([out, rest]);
  }

  private finish(): void {
    this.over = true;
    this.settle();
  }

  /** Records the request once, with the usage seen so far (an answer cut short counts that). */
  private settle(): void {
    if (this.refusal) {
      this.releaseInner(this.refusal.bytes);
      this.refusal = undefined;
    }
    // Bytes of an unfinished line that will now never be passed on.
    const held = this.sse?.heldBytes ?? 0;
    if (held > 0) this.releaseInner(held);
    if (this.recorded || !this.answered) return;
    this.recorded = true;
    const counts = this.sse?.usage ?? this.json?.usage ?? this.jsonCounts;
    const { userId, tunnelId, tunnelName, request } = this.ctx;
    this.ctx.recorder.record({
      userId,
      tunnelId,
      tunnelName,
      model: request.model,
      promptTokens: counts?.promptTokens ?? 0,
      completionTokens: counts?.completionTokens ?? 0,
    });
  }

  private releaseInner(bytes: number): void {
    if (bytes <= 0) return;
    if (this.inner) this.inner.release(bytes);
    else this.pendingRelease += bytes;
  }
}

const OTHER = 0;
const SSE = 1;
const JSON_ANSWER = 2;

/**
 * Whether the answer is an event stream, JSON or something else, by its content-type. Header
 * names come lower-cased from the agent, and the common values are matched as they are: only an
 * unusual name or value is lower-cased (a string per header per request showed in c=64 profiles).
 */
function answerKindOf(headers: Header[]): number {
  for (const h of headers) {
    if (h.name !== 'content-type' && (h.name.length !== 12 || h.name.toLowerCase() !== 'content-type')) continue;
    const v = h.value;
    if (v === 'application/json' || v.startsWith('application/json;')) return JSON_ANSWER;
    if (v.startsWith('text/event-stream')) return SSE;
    const lower = v.toLowerCase();
    return lower.startsWith('text/event-stream') ? SSE : lower.includes('json') ? JSON_ANSWER : OTHER;
  }
  return OTHER;
}
