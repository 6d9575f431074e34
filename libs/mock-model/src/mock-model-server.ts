import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { embeddingResponse } from './embeddings';
import { runGeneration, type GenerationKind } from './generation';
import { unixSeconds } from './ids';
import { resolveOptions, type MockModelOptions, type ResolvedMockModelOptions } from './mock-options';
import { StatsCounter, type MockStats } from './mock-stats';
import { badRequest, sendError, sendJson, sendProblem, type RequestProblem } from './openai-error';
import { MAX_BODY_BYTES, readBody } from './request-body';
import { TRACE_HEADERS_PATH, TraceHeaderLog } from './trace-header-log';
import { UPSTREAM_ERROR_SHAPES, type UpstreamErrorShape, sendUpstreamError } from './upstream-errors';
import { isProblem, parseChatRequest, parseEmbeddingRequest, parseTextRequest } from './request-validation';

/** Where a listening server can be reached. */
export interface ListenResult {
  port: number;
  /** `http://host:port`, without a trailing slash and without `/v1`. */
  url: string;
}

/** Failures a test can inject per request with the `x-mock-error` header. */
export type InjectedFault = '500' | '429' | 'reset' | 'midstream' | UpstreamErrorShape;

const FAULTS: ReadonlySet<string> = new Set<InjectedFault>(['500', '429', 'reset', 'midstream', ...UPSTREAM_ERROR_SHAPES]);

const MODEL_PATH = '/v1/models/';

/** A vLLM model object (OpenAI's, with vLLM's extra fields). */
function modelObject(id: string, created: number): Record<string, unknown> {
  return { id, object: 'model', created, owned_by: 'mock', root: id, parent: null, max_model_len: 8192 };
}

/** Tokens a `midstream` fault lets through before the socket dies. */
const MIDSTREAM_TOKENS = 3;

/** Pending connections the kernel queues for accept (uvicorn's default; Linux caps it at somaxconn). */
const LISTEN_BACKLOG = 2048;

type ApiRoute = 'models' | 'model' | GenerationKind | 'embeddings';

function apiRoute(method: string | undefined, path: string): ApiRoute | undefined {
  // GET /v1/models/{id}; ids may hold slashes (`meta-llama/Llama-3-8B`), as vLLM serves them.
  if (path.startsWith(MODEL_PATH) && path.length > MODEL_PATH.length) return method === 'GET' ? 'model' : undefined;
  switch (path) {
    case '/v1/models':
      return method === 'GET' ? 'models' : undefined;
    case '/v1/chat/completions':
      return method === 'POST' ? 'chat' : undefined;
    case '/v1/completions':
      return method === 'POST' ? 'text' : undefined;
    case '/v1/embeddings':
      return method === 'POST' ? 'embeddings' : undefined;
    default:
      return undefined;
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function readFault(req: IncomingMessage): InjectedFault | RequestProblem | undefined {
  const value = req.headers['x-mock-error'];
  if (value === undefined) return undefined;
  if (typeof value === 'string' && FAULTS.has(value)) return value as InjectedFault;
  return badRequest(`x-mock-error must be one of ${[...FAULTS].join(', ')}, got ${String(value)}`, 'x-mock-error');
}

function readDelayOverride(req: IncomingMessage): number | RequestProblem | undefined {
  const value = req.headers['x-mock-token-delay-ms'];
  if (value === undefined) return undefined;
  if (typeof value === 'string' && /^\d{1,9}$/.test(value)) return Number(value);
  return badRequest(`x-mock-token-delay-ms must be a whole number of milliseconds`, 'x-mock-token-delay-ms');
}

/**
 * An OpenAI-compatible server shaped like vLLM's, standing in for a GPU model server. Answers
 * are deterministic per prompt, timing and faults are configurable, and {@link stats} counts
 * what reached it, so tests can compare a tunnelled answer with a direct one and prove that
 * a cancel arrived.
 */
export class MockModelServer {
  private options: ResolvedMockModelOptions;
  private modelsJson = '';
  private readonly counter = new StatsCounter();
  private readonly server: Server;
  private readonly startedAt = unixSeconds();
  private readonly traceHeaders = new TraceHeaderLog();

  constructor(options: MockModelOptions = {}) {
    this.options = resolveOptions(options);
    this.renderModels();
    this.server = createServer(this.handle);
    this.server.on('error', (err) => this.options.logger.warn({ err }, 'mock model server error'));
  }

  /** Starts listening; port 0 picks a free port. */
  listen(port = 0, host = '127.0.0.1'): Promise<ListenResult> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // uvicorn's (vLLM's) backlog rather than node's 511: thousands of callers connecting at
      // once would otherwise overflow the accept queue and see resets no real server gives them.
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        const actual = (this.server.address() as AddressInfo).port;
        const url = `http://${urlHost(host)}:${actual}`;
        this.options.logger.debug({ url }, 'mock model server listening');
        resolve({ port: actual, url });
      });
    });
  }

  /**
   * Stops at once: open connections, idle keep-alive ones and running streams alike are
   * destroyed (running generations count as aborted), so a test's teardown never waits.
   */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  stats(): MockStats {
    return this.counter.snapshot();
  }

  /** Zeroes `requests`, `completed` and `aborted`; `active` keeps counting what is still running. */
  resetStats(): void {
    this.counter.reset();
  }

  /** Changes behaviour for requests that arrive from now on; running generations keep theirs. */
  setOptions(partial: MockModelOptions): void {
    this.options = resolveOptions(partial, this.options);
    this.renderModels();
  }

  /** The options in force, defaults applied. */
  getOptions(): ResolvedMockModelOptions {
    return this.options;
  }

  private renderModels(): void {
    this.modelsJson = JSON.stringify({
      object: 'list',
      data: this.options.models.map((id) => modelObject(id, this.startedAt)),
    });
  }

  private readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const requestId = req.headers['x-request-id'];
      if (requestId !== undefined) res.setHeader('x-request-id', requestId);

      if (path.startsWith('/v1/')) {
        this.traceHeaders.record(req, path);
        this.handleApi(req, res, path);
      } else if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
      } else if (path === '/mock/stats' && req.method === 'GET') {
        sendJson(res, 200, JSON.stringify(this.counter.snapshot()));
      } else if (path === TRACE_HEADERS_PATH && req.method === 'GET') {
        sendJson(res, 200, JSON.stringify({ received: this.traceHeaders.list() }));
      } else if (path === '/mock/reset' && req.method === 'POST') {
        this.counter.reset();
        sendJson(res, 200, JSON.stringify(this.counter.snapshot()));
      } else {
        sendError(res, 404, `Not Found: ${req.method} ${path}`, 'not_found_error');
      }
    } catch (err) {
      this.fail(res, err);
    }
  };

  private fail(res: ServerResponse, err: unknown): void {
    this.options.logger.error({ err }, 'mock model server failed a request');
    if (!res.headersSent) sendError(res, 500, 'internal error in the mock model server', 'server_error');
    else res.destroy();
  }

  private handleApi(req: IncomingMessage, res: ServerResponse, path: string): void {
    this.counter.requests += 1;
    const route = apiRoute(req.method, path);
    if (route === undefined) {
      sendError(res, 404, `Not Found: ${req.method} ${path}`, 'not_found_error');
      return;
    }
    // Captured once: setOptions during a request must not mix two configurations.
    const options = this.options;
    if (options.loading) {
      sendError(res, 503, 'model is still loading', 'service_unavailable');
      return;
    }
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      sendError(res, 401, 'Incorrect API key provided.', 'authentication_error');
      return;
    }
    const fault = readFault(req);
    if (fault !== undefined && typeof fault !== 'string') {
      sendProblem(res, fault);
      return;
    }
    const delayOverride = readDelayOverride(req);
    if (delayOverride !== undefined && typeof delayOverride !== 'number') {
      sendProblem(res, delayOverride);
      return;
    }
    if (route === 'models' || route === 'model') {
      if (fault !== undefined && this.injectFault(req, res, fault)) return;
      if (route === 'models') sendJson(res, 200, this.modelsJson);
      else this.answerModel(res, path.slice(MODEL_PATH.length));
      return;
    }
    readBody(req, MAX_BODY_BYTES, (body) => {
      try {
        this.answer(req, res, route, options, body, fault, delayOverride ?? options.tokenDelayMs);
      } catch (err) {
        this.fail(res, err);
      }
    });
  }

  /** Returns false for `midstream`, which only acts once an answer is being written. */
  private injectFault(req: IncomingMessage, res: ServerResponse, fault: InjectedFault): boolean {
    this.options.logger.debug({ fault }, 'injecting fault');
    switch (fault) {
      case '500':
        sendError(res, 500, 'injected internal server error', 'server_error');
        return true;
      case '429':
        sendError(res, 429, 'Rate limit reached (injected)', 'rate_limit_error');
        return true;
      case 'tgi':
      case 'vllm-flat':
      case 'text-500':
      case 'html-502':
        // Other model servers' error shapes, which the gateway puts in OpenAI's (upstream-errors.ts).
        sendUpstreamError(res, fault);
        return true;
      case 'reset':
        req.socket.destroy();
        return true;
      case 'midstream':
        return false;
    }
  }

  /** OpenAI's model object for GET /v1/models/{id}, or its 404 for an id not served. */
  private answerModel(res: ServerResponse, encodedId: string): void {
    let id: string;
    try {
      id = decodeURIComponent(encodedId);
    } catch {
      id = encodedId;
    }
    if (!this.options.models.includes(id)) {
      sendJson(res, 404, JSON.stringify({ error: { message: `The model \`${id}\` does not exist.`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' } }));
      return;
    }
    sendJson(res, 200, JSON.stringify(modelObject(id, this.startedAt)));
  }

  private answer(
    req: IncomingMessage,
    res: ServerResponse,
    route: Exclude<ApiRoute, 'models' | 'model'>,
    options: ResolvedMockModelOptions,
    body: Buffer | undefined,
    fault: InjectedFault | undefined,
    tokenDelayMs: number,
  ): void {
    if (body === undefined) {
      sendError(res, 413, `Request body is larger than ${MAX_BODY_BYTES} bytes.`, 'invalid_request_error');
      return;
    }
    if (fault !== undefined && this.injectFault(req, res, fault)) return;

    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      sendProblem(res, badRequest(`Invalid JSON in request body: ${(err as Error).message}`));
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      sendProblem(res, badRequest('The request body must be a JSON object.'));
      return;
    }
    const fields = parsed as Record<string, unknown>;
    // `x-mock-refuse-stream-options`: answer like a server that predates stream_options (pydantic's
    // extra_forbidden), for the gateway's retry without the include_usage it adds.
    if (fields.stream_options !== undefined && req.headers['x-mock-refuse-stream-options'] !== undefined) {
      sendProblem(res, badRequest("[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted'}]", 'stream_options'));
      return;
    }

    if (route === 'embeddings') {
      const request = parseEmbeddingRequest(fields, options);
      if (isProblem(request)) sendProblem(res, request);
      else if (fault === 'midstream') res.destroy();
      else sendJson(res, 200, embeddingResponse(request));
      return;
    }

    const request = route === 'chat' ? parseChatRequest(fields, options) : parseTextRequest(fields, options);
    if (isProblem(request)) {
      sendProblem(res, request);
      return;
    }
    runGeneration(
      res,
      {
        kind: route,
        request,
        tokenDelayMs,
        firstTokenDelayMs: options.firstTokenDelayMs,
        crashAfterTokens: fault === 'midstream' ? MIDSTREAM_TOKENS : undefined,
        // `x-mock-usage-null`: OpenAI's `"usage":null` in every streamed event (vLLM sends none).
        usageNull: req.headers['x-mock-usage-null'] !== undefined,
      },
      this.counter,
    );
  }
}
