import type { ServerResponse } from 'node:http';
import type { Exchange, ExchangeSink } from '@st/broker';
import type { Logger } from '@st/logging';
import type { Header } from '@st/proto';
import { traceIdOf } from '@st/telemetry';
import { TunnelError } from '@st/tunnel-protocol';
import { type Deadline, DeadlineQueue } from './deadline-queue';
import { httpErrorFor } from './http-error-table';
import { sendTunnelError } from './openai-error';
import { relayedHead } from './relayed-headers';
import { responseHeadRefusal } from './response-head';
import { UpstreamErrorAnswer } from './upstream-error-answer';

export interface ResponderOptions {
  requestId: string;
  /** The `traceparent` the request went on with, if any: its trace id goes on the log lines. */
  traceparent?: string;
  tunnelId: string;
  /** No response head within this long → 504 and the exchange is cancelled. */
  firstByteTimeoutMs: number;
  /** No body bytes for this long in an answer that has started → the stream ends with an error. */
  idleTimeoutMs: number;
  logger: Logger;
  /**
   * An OpenAI tunnel's or /v1's answer: the model server's cookies and CORS grants are dropped and
   * `nosniff` is added, and error answers not in OpenAI's shape are put in it (upstream-error-shape.ts).
   * A plain tunnel's web app keeps its own headers and bodies.
   */
  apiAnswer?: boolean;
  /** Where the deadlines are kept (default: the process's shared queue). */
  deadlines?: DeadlineQueue;
}

/** One queue for every answer of the process: one Node timer per deadline duration, not per answer. */
const SHARED_DEADLINES = new DeadlineQueue();

/**
 * Writes one exchange's answer to the HTTP response: headers as soon as they come, every chunk as
 * it arrives (no buffering, no compression), credit back to the agent as the client drains, and
 * an error the client can see when the answer breaks off: never a clean end of a broken stream.
 */
export class ExchangeResponder implements ExchangeSink {
  private exchange: Exchange | undefined;
  private timer: Deadline | undefined;
  private timerKind: 'first-byte' | 'idle' | undefined;
  private sse = false;
  /** text/event-stream: a break-off can be reported in-band as an error event. */
  private eventStream = false;
  /** Whether the bytes written so far end with a blank line (a complete SSE event). */
  private endsWithBlankLine = true;
  private finished = false;
  /** Body bytes the exchange gave us and we have not released yet (see releaseHeld). */
  private held = 0;
  /** Of those, the bytes written while waiting for 'drain'. */
  private unreleased = 0;
  /** The response is over (finished or its connection closed): nothing of it is buffered any more. */
  private closed = false;
  private waitingDrain = false;
  /** An upstream error answer whose body is being gathered, to be put in OpenAI's shape. */
  private errorAnswer: UpstreamErrorAnswer | undefined;
  private startedAt = performance.now();

  constructor(
    private readonly res: ServerResponse,
    private readonly options: ResponderOptions,
  ) {
    this.arm(options.firstByteTimeoutMs, 'first-byte');
    res.on('close', () => {
      if (!this.finished) this.abandon();
      this.closed = true;
      this.releaseHeld(this.held);
    });
    // The end's bytes (res.end's chunk, and what waited for a 'drain' that never comes once the
    // response is ending) leave our buffers only when the response has flushed: released then,
    // so that the exchange keeps its window growth drawn while a stalled client holds them.
    res.on('finish', () => this.releaseHeld(this.held));
  }

  attach(exchange: Exchange): void {
    this.exchange = exchange;
    // The client may have left during the lookups before the exchange was opened; its 'close'
    // has fired already, so cancel now or the model would generate for nobody.
    if (this.res.destroyed && !this.finished) this.abandon();
  }

  head(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.hold(body.length);
    if (this.finished) return;
    // An API's error answer is put in OpenAI's shape first (upstream-error-answer.ts); one branch for successes.
    if (status >= 400 && this.options.apiAnswer === true && this.gatherError(status, headers, body, end)) return;
    this.writeHead(status, headers, body, end);
  }

  private writeHead(status: number, headers: Header[], body: Uint8Array, end: boolean): void {
    const refusal = responseHeadRefusal(status, headers);
    if (refusal) {
      this.exchange?.cancel('invalid response head');
      this.error(new TunnelError('protocol', `the model server behind tunnel ${this.options.tunnelId} sent an answer HTTP cannot relay: ${refusal}`));
      return;
    }
    const relayed = relayedHead(headers, this.options.requestId, this.options.apiAnswer === true);
    this.sse = relayed.streaming;
    this.eventStream = relayed.eventStream;
    try {
      this.res.writeHead(status, relayed.headers);
    } catch (err) {
      // Checked above; should Node still refuse, nothing of this head may stay for the 502.
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      this.res.statusMessage = '';
      this.exchange?.cancel('invalid response head');
      this.error(new TunnelError('protocol', `the model server sent a response head that HTTP cannot carry: ${(err as Error).message}`));
      return;
    }
    if (end) {
      this.done(status);
      this.res.end(body);
      return;
    }
    this.arm(this.options.idleTimeoutMs, 'idle');
    if (body.length > 0) this.write(body);
    else this.res.flushHeaders();
  }

  data(chunk: Uint8Array, end: boolean): void {
    this.hold(chunk.length);
    if (this.finished) return;
    if (this.errorAnswer) return this.addErrorBytes(chunk, end);
    if (end) {
      this.done(this.res.statusCode);
      this.res.end(chunk.length > 0 ? chunk : undefined);
      return;
    }
    this.arm(this.options.idleTimeoutMs, 'idle');
    this.write(chunk);
  }

  error(error: TunnelError): void {
    if (this.finished) return;
    this.done(this.res.headersSent ? this.res.statusCode : httpErrorFor(error.kind).status, error);
    if (!this.res.headersSent) {
      sendTunnelError(this.res, error, this.options.requestId);
      return;
    }
    if (this.eventStream) {
      // The OpenAI clients raise an error for a `data: {"error":…}` event; ending without
      // [DONE] alone would look like a short but complete answer to some of them. The event
      // starts on a fresh line even if the upstream broke off in the middle of one.
      const mapped = httpErrorFor(error.kind);
      const event = { error: { message: error.message, type: mapped.type, param: null, code: mapped.code } };
      this.res.end(`${this.endsWithBlankLine ? '' : '\n\n'}data: ${JSON.stringify(event)}\n\n`);
    } else {
      // A body of known length or plain chunks: cutting the connection is the only signal left.
      this.res.destroy(error);
    }
  }

  /**
   * The gateway is stopping and this answer outlived the grace period: end it with an error the
   * client sees (an SSE error event, or a 503 before the head), never a bare cut (issue 7).
   */
  shutdown(graceMs: number): void {
    if (this.finished) return;
    this.exchange?.cancel('gateway shutting down');
    this.error(
      new TunnelError('draining', `st-server is shutting down and this answer did not finish within its grace period of ${graceMs} ms (ST_SHUTDOWN_GRACE_MS): retry the request`),
    );
  }

  /** Starts gathering an error answer's body; false when it passes as it is (compressed). */
  private gatherError(status: number, headers: Header[], body: Uint8Array, end: boolean): boolean {
    this.errorAnswer = UpstreamErrorAnswer.for(status, headers);
    if (!this.errorAnswer) return false;
    this.addErrorBytes(body, end);
    return true;
  }

  private addErrorBytes(chunk: Uint8Array, end: boolean): void {
    const answer = this.errorAnswer!.add(chunk, end);
    if (!answer) {
      this.arm(this.options.idleTimeoutMs, 'idle');
      return;
    }
    this.errorAnswer = undefined;
    // Past the cap the rest of the page is not wanted: the model server need not send it.
    if (answer.cut) this.exchange?.cancel('error body longer than the gateway reads');
    this.writeHead(answer.status, answer.headers, answer.body, true);
  }

  private write(chunk: Uint8Array): void {
    if (this.eventStream && chunk.length > 0) {
      this.endsWithBlankLine = chunk.length >= 2 && chunk[chunk.length - 1] === 10 && chunk[chunk.length - 2] === 10;
    }
    const ok = this.res.write(chunk);
    if (ok && !this.waitingDrain) {
      this.releaseHeld(chunk.length);
      return;
    }
    // The client reads slower than the model writes: hold the agent's credit until it drains.
    this.unreleased += chunk.length;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      // Silence while the client is the slow party is not the model's silence: no idle deadline.
      this.timer?.clear();
      this.timer = undefined;
      this.res.once('drain', () => {
        this.waitingDrain = false;
        if (!this.finished) this.arm(this.options.idleTimeoutMs, 'idle');
        const n = this.unreleased;
        this.unreleased = 0;
        this.releaseHeld(n);
      });
    }
  }

  /** Counts body bytes received; once the response is over they are released at once. */
  private hold(bytes: number): void {
    this.held += bytes;
    if (this.closed) this.releaseHeld(this.held);
  }

  /**
   * Gives `bytes` of what we hold back to the exchange (credit while it runs, its window growth
   * once it ended). Capped by what is held: the tail released on 'finish'/'close' is never
   * released twice by a late 'drain'.
   */
  private releaseHeld(bytes: number): void {
    const n = Math.min(bytes, this.held);
    if (n <= 0) return;
    this.held -= n;
    this.exchange?.release(n);
  }

  private arm(ms: number, which: 'first-byte' | 'idle'): void {
    // Re-arming the same deadline on every chunk is a refresh, not a new timer.
    if (this.timer && this.timerKind === which) {
      this.timer.refresh();
      return;
    }
    this.timer?.clear();
    this.timerKind = which;
    this.timer = (this.options.deadlines ?? SHARED_DEADLINES).set(ms, () => this.expire(which, ms));
  }

  private expire(which: 'first-byte' | 'idle', ms: number): void {
    if (this.finished) return;
    const message =
      which === 'first-byte'
        ? `the model server behind tunnel ${this.options.tunnelId} did not answer within ${ms} ms (ST_FIRST_BYTE_TIMEOUT_MS): it may be overloaded or still loading`
        : `the model server behind tunnel ${this.options.tunnelId} sent nothing for ${ms} ms in the middle of the answer (ST_IDLE_TIMEOUT_MS)`;
    this.exchange?.cancel(`${which} deadline passed`);
    this.error(new TunnelError('upstream_timeout', message));
  }

  /** The client went away before the answer was complete: stop the model. */
  private abandon(): void {
    this.finished = true;
    this.timer?.clear();
    this.exchange?.cancel('client disconnected');
    this.options.logger.info(
      { requestId: this.options.requestId, tunnelId: this.options.tunnelId, ...this.traceFields(), ms: Math.round(performance.now() - this.startedAt) },
      'client disconnected; exchange cancelled',
    );
  }

  /** `trace_id` (OpenTelemetry's name for it in logs, which log-to-trace links look for) when there is a trace. */
  private traceFields(): { trace_id?: string } {
    const traceId = this.options.traceparent === undefined ? undefined : traceIdOf(this.options.traceparent);
    return traceId === undefined ? {} : { trace_id: traceId };
  }

  private done(status: number, error?: TunnelError): void {
    this.finished = true;
    this.timer?.clear();
    // The debug line is off in production: then its fields are not even built (once per request).
    if (!error && !this.options.logger.isLevelEnabled('debug')) return;
    const fields = {
      requestId: this.options.requestId,
      tunnelId: this.options.tunnelId,
      ...this.traceFields(),
      status,
      ms: Math.round(performance.now() - this.startedAt),
    };
    if (error) this.options.logger.warn({ ...fields, kind: error.kind, message: error.message }, 'exchange failed');
    else this.options.logger.debug(fields, 'exchange done');
  }
}
