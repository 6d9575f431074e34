import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { ExchangeOpener } from '@st/broker';
import type { Logger } from '@st/logging';
import type { Tunnel, User } from '@st/store';
import { TunnelError, toWireHeaders } from '@st/tunnel-protocol';
import { BodyDeadline, type BodyDeadlineOptions } from './body-deadline';
import { type GatewayRuntime, type GatewayStore, bearerFromHeaders } from './caller-auth';
import type { ConsoleSite } from './console-site';
import { DeferredBodyDeadline } from './deferred-body-deadline';
import { ExchangeResponder } from './exchange-responder';
import { GatewayLifecycle } from './gateway-lifecycle';
import { type GatewayMeter, NO_GATEWAY_METER } from './gateway-meter';
import { openAIErrorBody, sendOpenAIError, sendTunnelError } from './openai-error';
import { answerProtocolErrors } from './protocol-error-answers';
import { type HttpServerLimits, applyHttpServerLimits, httpServerOptions } from './http-server-limits';
import { InMemoryLimitCounters, type LimitCounters, type RequestLimits } from './limit-counters';
import { CALLER_FORWARDING_HEADERS, forwardingHeaders } from './forwarded-headers';
import type { ForwardRequest, JsonBody } from './forward-request';
import { pathRefusal } from './path-check';
import { closeAfterAnswer, hasBody } from './request-framing';
import { DEFAULT_MAX_JSON_DEPTH, isJsonRequest, readJsonBody, tooLarge } from './request-body';
import { RefusalSummary } from './refusal-summary';
import { requestIdOf } from './request-id';
import { type LimitTicket, RequestLimiter } from './request-limiter';
import { traceFieldsOf, traceForward, traceRequest } from './gateway-tracing';
import { parseTunnelRoute } from './tunnel-route';
import { UnifiedEndpoint } from './unified-endpoint';
import { openExchange } from './usage-metering';
import type { CheckedModel } from './usage-request';
import type { UsageRecorder } from './usage-recorder';

export interface GatewayOptions {
  store: GatewayStore;
  /** The broker, in-process or remote. */
  opener: ExchangeOpener;
  /** Which tunnels have agents, and their models (for the unified endpoint). */
  runtime: GatewayRuntime;
  logger: Logger;
  /** Largest request body accepted (ST_MAX_BODY). */
  maxBodyBytes: number;
  /** Deepest nesting of a JSON body (ST_MAX_JSON_DEPTH, default 128). */
  maxJsonDepth?: number;
  /** Deadline for the model server's first reply (ST_FIRST_BYTE_TIMEOUT_MS). */
  firstByteTimeoutMs: number;
  /** Deadline for silence in the middle of an answer (ST_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** Other handlers on this port, by URL prefix (the Connect face of discovery). */
  mounts?: { prefix: string; handler: (req: IncomingMessage, res: ServerResponse) => void }[];
  /** When a request body counts as stalled (ST_BODY_IDLE_TIMEOUT_MS, ST_BODY_MIN_RATE, ST_BODY_RATE_WINDOW_MS). */
  bodyDeadline?: Omit<BodyDeadlineOptions, 'clock'>;
  /** Header timeout, connection cap and keep-alive limits of the HTTP server. */
  httpLimits?: HttpServerLimits;
  /** Per-user and per-tunnel request limits (ST_LIMIT_*); none when absent. */
  requestLimits?: RequestLimits;
  /** Where the limits are counted (default: in this process's memory). */
  limitCounters?: LimitCounters;
  /** Why the gateway serves in a degraded way right now (Redis unreachable), or undefined. */
  degraded?: () => string | undefined;
  /** The web console's files, served at `/` and their own paths (none when absent). */
  console?: ConsoleSite;
  /** Where counted token usage goes (usage-batcher.ts); no accounting without it. */
  usage?: UsageRecorder;
  /** Prometheus metrics (ST_METRICS_PORT); none when absent. */
  meter?: GatewayMeter;
}

const DEFAULT_BODY_DEADLINE: Omit<BodyDeadlineOptions, 'clock'> = { idleTimeoutMs: 30_000, minBytesPerSecond: 1024, rateWindowMs: 30_000 };
const DEFAULT_HTTP_LIMITS: HttpServerLimits = { headerTimeoutMs: 10_000, maxConnections: 4096, keepAliveTimeoutMs: 5_000, maxRequestsPerConnection: 1000 };
const NO_REQUEST_LIMITS: RequestLimits = { tunnelConcurrency: 0, userConcurrency: 0, userRps: 0, userBurst: 0 };

/**
 * Headers that never cross the tunnel: the caller's gateway key (the model server has its own),
 * cookies for our domain, `expect` (the gateway has already read the body), and the caller's own
 * forwarding headers (the gateway sets those itself, see forwarded-headers.ts).
 */
const DROP_REQUEST_HEADERS = new Set(['authorization', 'cookie', 'expect', 'x-request-id', ...CALLER_FORWARDING_HEADERS]);

/** Methods whose requests to a JSON route must carry a body (an empty one is a 400). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The gateway role: OpenAI's HTTP API per tunnel at `/t/<tunnelId>/v1/...` (any path for a plain
 * HTTP tunnel) and for all of a user's providers at `/v1/...`. Authenticates the caller, finds
 * their tunnel (someone else's answers exactly like a missing one), validates the body, and turns
 * the request into an exchange through the broker.
 */
export class Gateway {
  readonly server: Server;
  private readonly logger: Logger;
  /** Listen, close and drain (the sockets and the answers still open). */
  private readonly lifecycle: GatewayLifecycle;
  private readonly unified: UnifiedEndpoint;
  private readonly limiter: RequestLimiter;
  private readonly refusals: RefusalSummary;
  private readonly meter: GatewayMeter;

  constructor(private readonly options: GatewayOptions) {
    this.logger = options.logger;
    this.meter = options.meter ?? NO_GATEWAY_METER;
    this.unified = new UnifiedEndpoint({
      store: options.store,
      runtime: options.runtime,
      readJson: (req, res, requestId) => this.readJson(req, res, requestId),
      forward: (req, res, forward) => this.forward(req, res, forward),
      reject: (res, requestId, error) => this.reject(res, requestId, error),
      stoppedError: (tunnel) => this.stoppedError(tunnel),
    });
    this.refusals = new RefusalSummary(options.logger);
    this.limiter = new RequestLimiter(options.limitCounters ?? new InMemoryLimitCounters(), options.requestLimits ?? NO_REQUEST_LIMITS);
    const httpLimits = options.httpLimits ?? DEFAULT_HTTP_LIMITS;
    this.server = createServer({ keepAlive: true, noDelay: true, ...httpServerOptions(httpLimits) }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'gateway request failed unexpectedly');
        if (!res.headersSent) {
          sendOpenAIError(res, 500, openAIErrorBody('internal error in the gateway', 'server_error', 'internal_error'), requestIdOf(undefined));
        } else res.destroy();
      });
    });
    applyHttpServerLimits(this.server, httpLimits, this.logger);
    this.lifecycle = new GatewayLifecycle(this.server, this.logger);
    this.meter.watch(this.server);
    answerProtocolErrors(this.server, httpLimits.headerTimeoutMs, (status) => this.meter.protocolError(status));
  }

  listen(host: string, port: number): Promise<number> {
    return this.lifecycle.listen(host, port);
  }

  /** Stops accepting, gives open answers `graceMs` to finish, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    await this.lifecycle.close(graceMs);
    await this.options.limitCounters?.close?.();
    await this.options.usage?.close?.();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    for (const mount of this.options.mounts ?? []) {
      if (url.startsWith(mount.prefix)) return mount.handler(req, res);
    }
    const requestId = requestIdOf(req.headers['x-request-id']);
    if (url === '/healthz' || url === '/readyz') {
      // Degraded stays ready (200): it still routes from the last known presence, and every gateway
      // shares the one Redis, so turning unready would take them all out of service at once.
      const degraded = url === '/readyz' ? this.options.degraded?.() : undefined;
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end(degraded ? JSON.stringify({ status: 'degraded', reason: degraded }) : '{"status":"ok"}');
      return;
    }
    traceRequest(req, res, requestId, url);
    const metered = this.meter.request(url, res);
    const route = parseTunnelRoute(url);
    const unified = !route && (url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?'));
    if (!route && !unified) {
      if (this.options.console?.serve(req, res, requestId)) return;
      sendOpenAIError(
        res,
        404,
        openAIErrorBody(
          `no such endpoint ${req.method} ${url.split('?')[0]}: tunnels are at /t/<tunnel id>/v1/..., all your providers at /v1/...`,
          'invalid_request_error',
          'unknown_url',
        ),
        requestId,
      );
      return;
    }
    const user = await this.authenticate(req, res, requestId);
    if (!user) return;
    if (!route) {
      const refusal = pathRefusal(url.split('?')[0], true);
      if (refusal) return this.reject(res, requestId, forbiddenPath(refusal));
      return this.unified.handle(req, res, user, requestId, metered);
    }

    // An id with control characters can exist nowhere (and PostgreSQL rejects NUL): answer as for any unknown id.
    const tunnel = hasControlChars(route.tunnelId) ? null : await this.options.store.getTunnelForUser(user.id, route.tunnelId);
    if (!tunnel) {
      return this.reject(res, requestId, new TunnelError('not_found', `tunnel ${JSON.stringify(route.tunnelId.slice(0, 80))} not found`));
    }
    if (!tunnel.openai) this.meter.plain(metered);
    const stopped = await this.stoppedError(tunnel);
    if (stopped) return this.reject(res, requestId, stopped);
    if (tunnel.openai && !route.path.startsWith('/v1/') && route.path !== '/v1') {
      return this.reject(res, requestId, new TunnelError('not_found', `tunnel ${tunnel.id} serves the OpenAI API under /t/${tunnel.id}/v1/`));
    }
    const refusal = pathRefusal(route.path, tunnel.openai);
    if (refusal) return this.reject(res, requestId, forbiddenPath(refusal));
    // The limits come before the body is read: a flood over them must cost a 429, not the reading
    // and checking of every body it sends (the bench's abuse section measures the difference).
    const forward: ForwardRequest = { tunnel, user, requestId, path: route.path, query: route.query, body: undefined, admitted: true, metered };
    let admitted = this.admit(res, forward);
    if (admitted instanceof Promise) admitted = await admitted;
    // Over a limit the 429 is out; Node discards the unread body and keeps the connection.
    if (!admitted) return;
    // An OpenAI tunnel's JSON bodies are read and checked (a POST without one is a 400 too);
    // anything else streams through as is.
    let body: Buffer | undefined;
    let checkedModel: CheckedModel | undefined;
    if (tunnel.openai && (hasBody(req) || BODY_METHODS.has(req.method ?? '')) && isJsonRequest(req.headers['content-type'])) {
      const json = await this.readJson(req, res, requestId);
      if (!json) return;
      body = json.body;
      checkedModel = { span: json.scanner.model, count: json.scanner.modelCount, stream: json.scanner.streamMembers };
    } else if (!this.withinDeclaredLimit(req, res, requestId)) {
      return;
    }
    await this.forward(req, res, { ...forward, body, checkedModel });
  }

  private async authenticate(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<User | undefined> {
    const apiKey = bearerFromHeaders(req.headers);
    if (!apiKey) {
      this.reject(res, requestId, new TunnelError('unauthenticated', 'missing API key: send "Authorization: Bearer <your Session Tunnels API key>"'));
      return undefined;
    }
    const user = await this.options.store.authenticateApiKey(apiKey);
    if (!user) {
      this.reject(res, requestId, new TunnelError('unauthenticated', 'the API key is not valid (unknown or revoked): create a new one'));
      return undefined;
    }
    return user;
  }

  /** The 503 for a tunnel that is stopped or whose session is, or undefined when it may serve. */
  private async stoppedError(tunnel: Tunnel): Promise<TunnelError | undefined> {
    if (tunnel.state === 'stopped') {
      return new TunnelError('tunnel_stopped', `tunnel ${tunnel.id} is stopped: restart the session and its tunnel`);
    }
    const session = tunnel.sessionId ? await this.options.store.getSession(tunnel.sessionId) : null;
    if (session?.state === 'stopped') {
      return new TunnelError('tunnel_stopped', `session ${session.id} of tunnel ${tunnel.id} is stopped: restart the session and its tunnel`);
    }
    return undefined;
  }

  /** Reads and validates a JSON body; answers the error itself and returns undefined on failure. */
  private async readJson(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<JsonBody | undefined> {
    if (!this.withinDeclaredLimit(req, res, requestId)) return undefined;
    // A body that has all arrived cannot stall: no timer. One still in the head's packet is
    // parsed right after this callback, before a deferred deadline would start.
    const deadline = req.complete ? undefined : new DeferredBodyDeadline(() => this.bodyDeadline());
    try {
      return await readJsonBody(req, this.options.maxBodyBytes, this.options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH, deadline);
    } catch (err) {
      // The body was read to its end unless it was too large or broke off.
      if ((err as TunnelError).kind !== 'bad_request') res.setHeader('connection', 'close');
      this.reject(res, requestId, err as TunnelError);
      return undefined;
    } finally {
      deadline?.stop();
    }
  }

  private withinDeclaredLimit(req: IncomingMessage, res: ServerResponse, requestId: string): boolean {
    if (Number(req.headers['content-length'] ?? 0) <= this.options.maxBodyBytes) return true;
    res.setHeader('connection', 'close');
    this.reject(res, requestId, tooLarge(this.options.maxBodyBytes));
    return false;
  }

  private bodyDeadline(): BodyDeadline {
    return new BodyDeadline(this.options.bodyDeadline ?? DEFAULT_BODY_DEADLINE);
  }

  /**
   * Takes the request's place in the user's and the tunnel's limits, released when the response
   * is over in any way (answered, failed, timed out, client gone: 'close' comes for each), or
   * answers the 429 itself and returns false. In memory the answer is immediate: no promise per
   * request on the hot path; shared counters answer through one.
   */
  private admit(res: ServerResponse, f: ForwardRequest): boolean | Promise<boolean> {
    const admission = this.limiter.admit(f.user.id, f.tunnel.id);
    return admission instanceof Promise ? admission.then((a) => this.admitted(res, f, a)) : this.admitted(res, f, admission);
  }

  private admitted(res: ServerResponse, f: ForwardRequest, admission: LimitTicket | TunnelError): boolean {
    if (admission instanceof TunnelError) {
      this.reject(res, f.requestId, admission, f.user.id);
      return false;
    }
    if (res.destroyed) {
      admission.release();
      return true; // the responder sees the closed response and cancels
    }
    res.once('close', () => admission.release());
    return true;
  }

  /** Opens the exchange and pipes the answer back; streams the body when it was not read. */
  private async forward(req: IncomingMessage, res: ServerResponse, f: ForwardRequest): Promise<void> {
    if (!f.admitted) {
      let admitted = this.admit(res, f);
      if (admitted instanceof Promise) admitted = await admitted;
      if (!admitted) return;
    }
    const method = req.method ?? 'GET';
    const streamed = f.body === undefined && hasBody(req);
    const headers = toWireHeaders(req.headers, DROP_REQUEST_HEADERS);
    headers.push(...forwardingHeaders(req));
    const traceparent = traceForward(req, headers);
    // The responder's log lines carry requestId and tunnelId themselves: no child logger per
    // request (pino serialises a child's bindings when it is made, on the hot path).
    const responder = new ExchangeResponder(res, {
      requestId: f.requestId,
      traceparent,
      tunnelId: f.tunnel.id,
      firstByteTimeoutMs: this.options.firstByteTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
      logger: this.logger,
      apiAnswer: f.tunnel.openai,
    });
    const sink = this.meter.sink(f.metered, responder);
    const exchange = openExchange(
      this.options.opener,
      this.options.usage,
      this.logger,
      f.tunnel,
      f.body,
      { tunnelId: f.tunnel.id, userId: f.user.id },
      { requestId: f.requestId, method, path: f.path, query: f.query, headers, body: f.body ?? EMPTY, end: !streamed },
      sink,
      f.checkedModel,
    );
    const open = this.lifecycle.openAnswers;
    open.add(responder);
    res.once('close', () => open.delete(responder));
    responder.attach(exchange);
    if (!streamed) return;
    // Stream the body through the tunnel, pausing the client while the agent has no credit.
    const limit = this.options.maxBodyBytes;
    let size = 0;
    const deadline = this.bodyDeadline();
    deadline.onExpire((error) => {
      // A stalled or trickling upload: free the exchange and the connection, answer 408.
      exchange.cancel('request body stalled');
      closeAfterAnswer(req, res);
      sink.error(error);
    });
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        if (deadline.expired) return;
        deadline.bytes(chunk.length);
        size += chunk.length;
        if (size > limit) {
          exchange.cancel('request body over the limit');
          sink.error(tooLarge(limit));
          return;
        }
        // Waiting for the agent's credit is not the client's slowness.
        deadline.pause();
        await exchange.write(chunk, false);
        deadline.resume();
      }
    } catch (err) {
      // The connection the deadline closed ends the body with an error: that is expected.
      if (deadline.expired) return;
      throw err;
    } finally {
      deadline.stop();
    }
    if (deadline.expired) return;
    await exchange.write(EMPTY, true);
  }

  private reject(res: ServerResponse, requestId: string, error: TunnelError, userId?: string): void {
    this.meter.rejected(error);
    // A flood over the limits is thousands of 429s a second: one info line each would cost the
    // event loop (and the disk) more than answering them. The limiter's own summary says who.
    if (error.kind === 'rate_limited') {
      this.logger.debug({ requestId, kind: error.kind, ...traceFieldsOf(res.req) }, error.message);
      this.refusals.record(userId ?? '', error.message);
    } else this.logger.info({ requestId, kind: error.kind, ...traceFieldsOf(res.req) }, error.message);
    sendTunnelError(res, error, requestId);
  }
}

export function hasControlChars(s: string): boolean {
   
  return /[\u0000-\u001f\u007f]/.test(s);
}

function forbiddenPath(reason: string): TunnelError {
  return new TunnelError('forbidden_path', `the gateway does not forward this path: ${reason}. Send a plain path such as /v1/chat/completions`);
}


const EMPTY = Buffer.alloc(0);
