import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '@st/logging';
import { type AgentFrame, type Data, ExchangeErrorCode, type Header, type RequestOpen } from '@st/proto';
import { AutoReceiveWindow, GatheredData, type GrowthBudget } from '@st/tunnel-protocol';
import { AgentExchangeSpans } from './agent-tracing';
import { forwardablePath } from './path-policy';
import type { UpstreamClient } from './upstream-client';
import type { UpstreamTicket } from './upstream-pool';
import { upstreamRequestHeaders, wireHeadersFromRaw } from './upstream-headers';
import { bodySegments, joinedSegment } from './body-segments';
import type { AgentMeter } from './agent-meter';
import { describeRequestFailure, describeResponseFailure } from './upstream-error';

/** What an exchange needs from the connection it lives on. */
export interface ExchangeContext {
  send(frame: AgentFrame): void;
  /** Runs `producer` right before the stream's next batch is written (see FrameSender). */
  beforeFlush(producer: () => void): void;
  remove(id: number): void;
  upstream: UpstreamClient;
  /** The broker's per-exchange window for response bytes (Welcome.receive_window). */
  brokerWindow: number;
  /** Our own window for request bytes (Register.receive_window). */
  agentWindow: number;
  /** How far that window may grow while the model server keeps up (protocol 2); absent: fixed. */
  agentWindowLimit?: number;
  /** Window growth the exchanges of this stream share. */
  growthBudget?: GrowthBudget;
  maxChunkBytes: number;
  /** Headers the agent adds to every upstream request (the model server's own API key). */
  extraHeaders?: Record<string, string>;
  /** A plain HTTP tunnel forwards any path, not only /v1/. */
  plainHttp?: boolean;
  /** Counts waits for the broker's credit (metrics); absent: not counted. */
  meter?: AgentMeter;
  logger: Logger;
}

const EMPTY = new Uint8Array(0);

/**
 * Replays one exchange against the model server (undici's dispatch API: no Readable, no
 * AbortController per request) and streams the answer back. It is a handler of undici's first
 * style (onConnect, onHeaders, onData, …), which undici calls as is: one of the newer style is
 * wrapped per request in an adapter that turns the raw response headers into an object (and the
 * trailers too) for us only to turn it back into a list (issue 9: 5 % of the agent at c=1).
 *
 * Response bytes are gathered per event-loop turn and sent as one frame just before the stream's
 * batch is written: a model server writes one small chunk per SSE event, and a frame per event
 * cost more than the event itself. The frame keeps the events as views (GatheredData), which the
 * encoder copies once into the message. The head rides in the same frame as the first bytes, so a
 * small answer is one frame. Bytes beyond the broker's credit are held and the upstream body is
 * paused, which pushes back on the model server's socket instead of buffering here.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  /** Aborts the upstream request once it started (undici's onConnect). */
  private abort: ((err?: Error) => void) | undefined;
  /** Resumes the upstream body after a pause (onData returned false). */
  private resume: (() => void) | undefined;
  /** The request in the upstream pool, to cancel before it starts (then `abort` aborts it). */
  private ticket: UpstreamTicket | undefined;
  private requestBody: PassThrough | undefined;
  private readonly requestWindow: AutoReceiveWindow;
  private credit: number;
  private status = 0;
  private headers: Header[] = [];
  private responseStarted = false;
  private headSent = false;
  private pending: Uint8Array[] = [];
  private pendingEnd = false;
  private flushScheduled = false;
  /** Bytes that arrived beyond the credit; the upstream is paused while there are any. */
  private held: Uint8Array | undefined;
  private done = false;
  /** The Open frame until start(): its headers and body are not kept for the answer's whole life. */
  private open: RequestOpen | undefined;
  private readonly requestId: string;
  /** The exchange's spans while tracing is on (agent-tracing.ts). */
  private spans: AgentExchangeSpans | undefined;

  constructor(
    readonly id: number,
    open: RequestOpen,
    private readonly ctx: ExchangeContext,
  ) {
    this.open = open;
    this.requestId = open.requestId;
    this.credit = ctx.brokerWindow;
    this.requestWindow = new AutoReceiveWindow(ctx.agentWindow, ctx.agentWindowLimit ?? ctx.agentWindow, ctx.growthBudget);
  }

  start(): void {
    const { ctx } = this;
    const open = this.open!;
    this.open = undefined;
    if (!forwardablePath(open.path, ctx.plainHttp ?? false)) {
      this.fail(
        ExchangeErrorCode.EXCHANGE_ERROR_CODE_FORBIDDEN_PATH,
        ctx.plainHttp
          ? `the agent does not forward the path ${JSON.stringify(open.path)}`
          : `the agent forwards only /v1/ paths of the model server, not ${JSON.stringify(open.path)}`,
      );
      return;
    }
    const headers = upstreamRequestHeaders(open.headers, open.requestId, ctx.extraHeaders);
    this.spans = AgentExchangeSpans.start(open, headers, ctx.upstream.origin);
    let body: Buffer | PassThrough | null = null;
    if (open.end) {
      if (open.body.length > 0) body = Buffer.from(open.body.buffer, open.body.byteOffset, open.body.byteLength);
    } else {
      this.requestBody = new PassThrough();
      body = this.requestBody;
      if (open.body.length > 0) this.writeRequestBody(open.body);
    }
    this.ticket = ctx.upstream.pool.submit(
      { path: open.query ? `${open.path}?${open.query}` : open.path, method: open.method as Dispatcher.HttpMethod, headers, body },
      this,
    );
  }

  /** A request-body chunk from the broker. */
  pushRequestBody(data: Data): void {
    if (this.done || !this.requestBody) return;
    if (data.chunk.length > 0) this.writeRequestBody(data.chunk);
    if (data.end) this.requestBody.end();
  }

  /** The broker has consumed response bytes: send more. */
  grantCredit(bytes: number): void {
    if (this.done) return;
    this.credit += bytes;
    if (!this.held) return;
    const held = this.held;
    this.held = undefined;
    this.accept(held);
    if (!this.held) this.resume?.();
    this.scheduleFlush();
  }

  /** The caller went away: abort the upstream request so the model stops generating. */
  cancel(reason: string): void {
    if (this.done) return;
    this.ctx.logger.debug({ exchangeId: this.id, requestId: this.requestId, reason }, 'exchange cancelled');
    this.finish(true);
  }

  // undici DispatchHandler ------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.done) abort(new Error('exchange cancelled'));
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resume = resume;
    if (this.done) return true;
    this.status = status;
    this.headers = wireHeadersFromRaw(rawHeaders);
    this.responseStarted = true;
    this.scheduleFlush();
    return true;
  }

  /** False pauses the upstream body: more arrived than the broker's credit covers. */
  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.accept(chunk);
    this.scheduleFlush();
    return !this.held;
  }

  onComplete(): void {
    if (this.done) return;
    this.pendingEnd = true;
    this.scheduleFlush();
  }

  onError(err: Error): void {
    if (this.done) return;
    const failure = this.responseStarted
      ? describeResponseFailure(this.ctx.upstream.origin, err)
      : describeRequestFailure(this.ctx.upstream.origin, err);
    this.fail(failure.code, failure.message);
  }

  // ------------------------------------------------------------------------------------------

  private writeRequestBody(chunk: Uint8Array): void {
    const size = chunk.length;
    this.requestWindow.received(size);
    this.requestBody!.write(chunk, () => {
      if (this.done) return;
      const credit = this.requestWindow.consume(size);
      if (credit > 0) this.ctx.send({ frame: { $case: 'credit', value: { exchangeId: this.id, bytes: credit } } });
    });
  }

  /** Takes as much of `chunk` as the credit allows into the pending bytes; holds the rest. */
  private accept(chunk: Uint8Array): void {
    if (this.held) {
      this.held = Buffer.concat([this.held, chunk]);
      return;
    }
    const take = Math.min(chunk.length, this.credit);
    this.credit -= take;
    if (take > 0) this.pending.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    if (take < chunk.length) {
      this.held = chunk.subarray(take);
      this.ctx.meter?.creditStall();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.done) return;
    this.flushScheduled = true;
    this.ctx.beforeFlush(this.flush);
  }

  /** Sends what this turn gathered: head (with the first bytes) and Data frames of at most maxChunkBytes. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.done || !this.responseStarted) return;
    const segments = bodySegments(this.pending, this.ctx.maxChunkBytes);
    this.pending = [];
    const end = this.pendingEnd && !this.held;
    let endSent = false;
    let next = 0;
    if (!this.headSent) {
      this.headSent = true;
      const body = segments.length > 0 ? joinedSegment(segments[next++]) : EMPTY;
      endSent = end && next === segments.length;
      this.ctx.send({ frame: { $case: 'head', value: { exchangeId: this.id, status: this.status, headers: this.headers, body, end: endSent } } });
    }
    for (; next < segments.length; next++) {
      const last = next === segments.length - 1;
      const { parts, bytes } = segments[next];
      const value = parts.length === 1 ? { exchangeId: this.id, chunk: parts[0], end: last && end } : new GatheredData(this.id, parts, bytes, last && end);
      this.ctx.send({ frame: { $case: 'data', value } });
      endSent = last && end;
    }
    if (end && !endSent) this.ctx.send({ frame: { $case: 'data', value: { exchangeId: this.id, chunk: EMPTY, end: true } } });
    if (end) this.finish(false);
  };

  private fail(code: ExchangeErrorCode, message: string): void {
    if (this.done) return;
    this.ctx.logger.warn({ exchangeId: this.id, requestId: this.requestId, code: ExchangeErrorCode[code], message }, 'exchange failed');
    this.ctx.send({ frame: { $case: 'error', value: { exchangeId: this.id, code, message } } });
    this.finish(true, message);
  }

  /** Frees the exchange; aborts the upstream request unless it completed. */
  private finish(abort: boolean, error?: string): void {
    this.done = true;
    this.spans?.end(this.status, error ?? (abort ? 'cancelled' : undefined));
    this.requestWindow.close();
    this.ctx.remove(this.id);
    if (abort) {
      // Started: the abort closes the connection, which is what stops the model generating.
      // Not yet: the pool drops it from its queue, or closes the connect opened for it.
      if (this.abort) this.abort(new Error('exchange cancelled'));
      else this.ticket?.cancel();
    }
    this.requestBody?.destroy();
  }
}
