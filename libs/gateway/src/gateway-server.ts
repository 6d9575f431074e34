import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { ExchangeOpener } from '@st/broker';
import type { Logger } from '@st/logging';
import { TunnelError, toWireHeaders } from '@st/tunnel-protocol';
import { type GatewayStore, bearerFromHeaders } from './caller-auth';
import { ExchangeResponder } from './exchange-responder';
import { openAIErrorBody, sendOpenAIError, sendTunnelError } from './openai-error';
import { isJsonRequest, readBody, tooLarge, validateJson } from './request-body';
import { requestIdOf } from './request-id';
import { type TunnelRoute, parseTunnelRoute } from './tunnel-route';

export interface GatewayOptions {
  store: GatewayStore;
  /** The broker, in-process or remote. */
  opener: ExchangeOpener;
  logger: Logger;
  /** Largest request body accepted (ST_MAX_BODY). */
  maxBodyBytes: number;
  /** Deadline for the model server's first reply (ST_FIRST_BYTE_TIMEOUT_MS). */
  firstByteTimeoutMs: number;
  /** Deadline for silence in the middle of an answer (ST_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
}

/**
 * Headers that never cross the tunnel: the caller's gateway key (the model server has its own),
 * cookies for our domain, and `expect` (the gateway has already read the body).
 */
const DROP_REQUEST_HEADERS = new Set(['authorization', 'cookie', 'expect', 'x-request-id']);

/**
 * The gateway role: OpenAI's HTTP API per tunnel at `/t/<tunnelId>/v1/...`. Authenticates the
 * caller, finds their tunnel (someone else's answers exactly like a missing one), validates the
 * body, and turns the request into an exchange through the broker.
 */
export class Gateway {
  readonly server: Server;
  private readonly logger: Logger;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: GatewayOptions) {
    this.logger = options.logger;
    this.server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'gateway request failed unexpectedly');
        if (!res.headersSent) {
          sendOpenAIError(res, 500, openAIErrorBody('internal error in the gateway', 'server_error', 'internal_error'), requestIdOf(undefined));
        } else res.destroy();
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // A malformed request line or header gets an answer in HTTP, not a silent reset.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const body = JSON.stringify(openAIErrorBody(`malformed HTTP request: ${err.code ?? err.message}`, 'invalid_request_error', 'bad_http'));
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`cannot listen for HTTP on ${host}:${port}: the port is in use. Stop the other process or choose another port (ST_HTTP_PORT).`)
            : err,
        ),
      );
      this.server.listen(port, host, () => resolve());
    });
    const address = this.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.logger.info({ address: `${host}:${bound}` }, 'gateway listening');
    return bound;
  }

  /** Stops accepting, gives open answers `graceMs` to finish, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf(req.headers['x-request-id']);
    const url = req.url ?? '/';
    if (url === '/healthz' || url === '/readyz') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end('{"status":"ok"}');
      return;
    }
    const route = parseTunnelRoute(url);
    if (!route) {
      sendOpenAIError(
        res,
        404,
        openAIErrorBody(`no such endpoint ${req.method} ${url.split('?')[0]}: tunnels are at /t/<tunnel id>/v1/...`, 'invalid_request_error', 'unknown_url'),
        requestId,
      );
      return;
    }
    const apiKey = bearerFromHeaders(req.headers);
    if (!apiKey) {
      return this.reject(res, requestId, new TunnelError('unauthenticated', 'missing API key: send "Authorization: Bearer <your Session Tunnels API key>"'));
    }
    const user = await this.options.store.authenticateApiKey(apiKey);
    if (!user) {
      return this.reject(res, requestId, new TunnelError('unauthenticated', 'the API key is not valid (unknown or revoked): create a new one'));
    }
    const tunnel = await this.options.store.getTunnelForUser(user.id, route.tunnelId);
    if (!tunnel) {
      return this.reject(res, requestId, new TunnelError('not_found', `tunnel ${JSON.stringify(route.tunnelId.slice(0, 80))} not found`));
    }
    if (tunnel.state === 'stopped') {
      return this.reject(res, requestId, new TunnelError('tunnel_stopped', `tunnel ${tunnel.id} is stopped: restart the session and its tunnel`));
    }
    if (!route.path.startsWith('/v1/') && route.path !== '/v1') {
      return this.reject(res, requestId, new TunnelError('not_found', `tunnel ${tunnel.id} serves the OpenAI API under /t/${tunnel.id}/v1/`));
    }
    const log = this.logger.child({ requestId, tunnelId: tunnel.id, userId: user.id });
    await this.relay(req, res, route, user.id, requestId, log);
  }

  private async relay(req: IncomingMessage, res: ServerResponse, route: TunnelRoute, userId: string, requestId: string, log: Logger): Promise<void> {
    const { maxBodyBytes } = this.options;
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD' && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      res.setHeader('connection', 'close');
      return this.reject(res, requestId, tooLarge(maxBodyBytes));
    }
    let body: Buffer = EMPTY;
    const streamed = hasBody && !isJsonRequest(req.headers['content-type']);
    if (hasBody && !streamed) {
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (err) {
        res.setHeader('connection', 'close');
        return this.reject(res, requestId, err as TunnelError);
      }
      const invalid = validateJson(body);
      if (invalid) return this.reject(res, requestId, invalid);
    }
    const responder = new ExchangeResponder(res, {
      requestId,
      tunnelId: route.tunnelId,
      firstByteTimeoutMs: this.options.firstByteTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
      logger: log,
    });
    const exchange = this.options.opener.open(
      { tunnelId: route.tunnelId, userId },
      {
        requestId,
        method,
        path: route.path,
        query: route.query,
        headers: toWireHeaders(req.headers, DROP_REQUEST_HEADERS),
        body,
        end: !streamed,
      },
      responder,
    );
    responder.attach(exchange);
    if (streamed) await this.pumpBody(req, exchange, maxBodyBytes, responder);
  }

  /** Streams a non-JSON body through the tunnel, pausing the client while the agent has no credit. */
  private async pumpBody(req: IncomingMessage, exchange: { write(c: Uint8Array, e: boolean): Promise<void>; cancel(r: string): void }, limit: number, responder: ExchangeResponder): Promise<void> {
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        exchange.cancel('request body over the limit');
        responder.error(tooLarge(limit));
        return;
      }
      await exchange.write(chunk, false);
    }
    await exchange.write(EMPTY, true);
  }

  private reject(res: ServerResponse, requestId: string, error: TunnelError): void {
    this.logger.info({ requestId, kind: error.kind }, error.message);
    sendTunnelError(res, error, requestId);
  }
}

const EMPTY = Buffer.alloc(0);
