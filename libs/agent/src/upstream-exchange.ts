import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from '@st/logging';
import { type AgentFrame, type Data, ExchangeErrorCode, type RequestOpen } from '@st/proto';
import { ReceiveWindow, fromWireHeaders, toWireHeaders } from '@st/tunnel-protocol';
import { forwardablePath } from './path-policy';
import type { UpstreamClient } from './upstream-client';
import { describeRequestFailure, describeResponseFailure } from './upstream-error';

/** What an exchange needs from the connection it lives on. */
export interface ExchangeContext {
  send(frame: AgentFrame): void;
  remove(id: number): void;
  upstream: UpstreamClient;
  /** The broker's per-exchange window for response bytes (Welcome.receive_window). */
  brokerWindow: number;
  /** Our own window for request bytes (Register.receive_window). */
  agentWindow: number;
  maxChunkBytes: number;
  /** Headers the agent adds to every upstream request (the model server's own API key). */
  extraHeaders?: Record<string, string>;
  logger: Logger;
}

/** Request headers never sent to the model server (the gateway strips them too; belt and braces). */
const DROP_REQUEST = new Set(['authorization', 'expect', 'content-length']);

/**
 * Replays one exchange against the model server and streams the answer back. Response bytes go
 * out only as far as the broker's credit reaches; past it the upstream body is paused, which
 * pushes back on the model server's socket instead of buffering in the agent.
 */
export class UpstreamExchange {
  private readonly abort = new AbortController();
  private requestBody: PassThrough | undefined;
  private readonly requestWindow: ReceiveWindow;
  private credit: number;
  private responseBody: Readable | undefined;
  /** Part of a chunk that did not fit in the credit, sent when credit comes back. */
  private held: Uint8Array | undefined;
  private heldEnd = false;
  private done = false;

  constructor(
    readonly id: number,
    private readonly open: RequestOpen,
    private readonly ctx: ExchangeContext,
  ) {
    this.credit = ctx.brokerWindow;
    this.requestWindow = new ReceiveWindow(ctx.agentWindow);
  }

  start(): void {
    const { open, ctx } = this;
    if (!forwardablePath(open.path)) {
      this.fail(
        ExchangeErrorCode.EXCHANGE_ERROR_CODE_FORBIDDEN_PATH,
        `the agent forwards only /v1/ paths of the model server, not ${JSON.stringify(open.path)}`,
      );
      return;
    }
    const headers = fromWireHeaders(open.headers, DROP_REQUEST) as Record<string, string | string[]>;
    if (ctx.extraHeaders) Object.assign(headers, ctx.extraHeaders);
    headers['x-request-id'] = open.requestId;
    let body: Buffer | PassThrough | undefined;
    if (open.end) {
      body = open.body.length > 0 ? Buffer.from(open.body.buffer, open.body.byteOffset, open.body.byteLength) : undefined;
    } else {
      this.requestBody = new PassThrough();
      body = this.requestBody;
      if (open.body.length > 0) this.writeRequestBody(open.body);
    }
    ctx.upstream.pool
      .request({
        path: open.query ? `${open.path}?${open.query}` : open.path,
        method: open.method as 'POST',
        headers,
        body,
        signal: this.abort.signal,
      })
      .then(
        (response) => this.onResponse(response.statusCode, response.headers, response.body),
        (err: unknown) => {
          if (this.done) return;
          const failure = describeRequestFailure(ctx.upstream.origin, err);
          this.fail(failure.code, failure.message);
        },
      );
  }

  /** A request-body chunk from the broker. */
  onData(data: Data): void {
    if (this.done || !this.requestBody) return;
    if (data.chunk.length > 0) this.writeRequestBody(data.chunk);
    if (data.end) this.requestBody.end();
  }

  /** The broker has consumed response bytes: send more. */
  onCredit(bytes: number): void {
    if (this.done) return;
    this.credit += bytes;
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      this.sendBody(held, this.heldEnd);
    }
    if (this.credit > 0 && !this.held) this.responseBody?.resume();
  }

  /** The caller went away: abort the upstream request so the model stops generating. */
  cancel(reason: string): void {
    if (this.done) return;
    this.ctx.logger.debug({ exchangeId: this.id, requestId: this.open.requestId, reason }, 'exchange cancelled');
    this.finish();
  }

  private writeRequestBody(chunk: Uint8Array): void {
    const size = chunk.length;
    this.requestBody!.write(chunk, () => {
      if (this.done) return;
      const credit = this.requestWindow.consume(size);
      if (credit > 0) this.ctx.send({ frame: { $case: 'credit', value: { exchangeId: this.id, bytes: credit } } });
    });
  }

  private onResponse(status: number, rawHeaders: Record<string, string | string[] | undefined>, body: Readable): void {
    if (this.done) {
      body.destroy();
      return;
    }
    this.responseBody = body;
    const headers = toWireHeaders(rawHeaders);
    const length = Number(rawHeaders['content-length'] ?? NaN);
    // A small answer of known length travels as one frame: head, body and end together.
    if (length >= 0 && length <= this.ctx.maxChunkBytes && length <= this.credit) {
      const parts: Buffer[] = [];
      body.on('data', (chunk: Buffer) => parts.push(chunk));
      body.on('end', () => {
        if (this.done) return;
        const whole = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        this.credit -= whole.length;
        this.ctx.send({ frame: { $case: 'head', value: { exchangeId: this.id, status, headers, body: whole, end: true } } });
        this.finish(false);
      });
    } else {
      this.ctx.send({ frame: { $case: 'head', value: { exchangeId: this.id, status, headers, body: EMPTY, end: false } } });
      body.on('data', (chunk: Buffer) => this.sendBody(chunk, false));
      body.on('end', () => this.sendBody(EMPTY, true));
    }
    body.on('error', (err: Error) => {
      if (this.done) return;
      const failure = describeResponseFailure(this.ctx.upstream.origin, err);
      this.fail(failure.code, failure.message);
    });
  }

  /** Sends body bytes within the credit; holds the rest and pauses the upstream body. */
  private sendBody(chunk: Uint8Array, end: boolean): void {
    if (this.done) return;
    if (this.held) {
      // Credit is exhausted and the upstream is paused; a chunk already in flight joins the held bytes.
      this.held = Buffer.concat([this.held, chunk]);
      this.heldEnd = end;
      return;
    }
    let offset = 0;
    const max = this.ctx.maxChunkBytes;
    while (offset < chunk.length) {
      const size = Math.min(chunk.length - offset, max, this.credit);
      if (size <= 0) {
        this.held = chunk.subarray(offset);
        this.heldEnd = end;
        this.responseBody?.pause();
        return;
      }
      this.credit -= size;
      const last = offset + size >= chunk.length;
      this.ctx.send({
        frame: { $case: 'data', value: { exchangeId: this.id, chunk: chunk.subarray(offset, offset + size), end: last && end } },
      });
      offset += size;
    }
    if (chunk.length === 0 && end) {
      this.ctx.send({ frame: { $case: 'data', value: { exchangeId: this.id, chunk: EMPTY, end: true } } });
    }
    if (end) this.finish(false);
    else if (this.credit <= 0) this.responseBody?.pause();
  }

  private fail(code: ExchangeErrorCode, message: string): void {
    if (this.done) return;
    this.ctx.logger.warn({ exchangeId: this.id, requestId: this.open.requestId, code: ExchangeErrorCode[code], message }, 'exchange failed');
    this.ctx.send({ frame: { $case: 'error', value: { exchangeId: this.id, code, message } } });
    this.finish();
  }

  /** Frees the exchange; aborts the upstream request unless it completed. */
  private finish(abort = true): void {
    this.done = true;
    this.ctx.remove(this.id);
    if (abort) {
      this.abort.abort();
      this.responseBody?.destroy();
    }
    this.requestBody?.destroy();
  }
}

const EMPTY = new Uint8Array(0);
