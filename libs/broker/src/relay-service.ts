import { timingSafeEqual } from 'node:crypto';
import { Metadata, type ServerDuplexStream, status } from '@grpc/grpc-js';
import { bearerFromMetadata } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import type { ExchangeRequest, ExchangeResponse, Header, RelayServiceServer } from '@st/proto';
import { exchangeCodeFor, type TunnelError } from '@st/tunnel-protocol';
import type { Exchange, ExchangeOpener } from './exchange-api';
import { grpcStatusFor } from './grpc-error-table';

type RelayCall = ServerDuplexStream<ExchangeRequest, ExchangeResponse>;

/** Kinds that end the call with a gRPC status; the others travel as ExchangeError frames. */
const STATUS_KINDS = new Set(['not_found', 'tunnel_stopped', 'no_agent', 'unauthenticated', 'cancelled']);

/** Response bytes the gateway may leave unconsumed before the broker stops granting credit. */
const UNRELEASED_LIMIT = 256 * 1024;

/**
 * RelayService: the broker's side of the gateway -> broker hop when the two roles run in
 * separate processes. One call is one exchange; it is handed to the same ExchangeOpener the
 * in-process gateway uses, so behaviour cannot differ between the two layouts. `widenWindows`
 * (GrpcServerHost.widenWindows) opens the large HTTP/2 windows of a gateway's connection once a
 * call on it showed the service token: relayed uploads then move at the far link's speed.
 */
export function createRelayService(
  opener: ExchangeOpener,
  serviceToken: string,
  logger: Logger,
  widenWindows?: (call: RelayCall) => void,
): RelayServiceServer {
  const expected = Buffer.from(serviceToken);
  return {
    exchange(call: RelayCall) {
      const token = bearerFromMetadata(call.metadata);
      const given = Buffer.from(token ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        call.emit('error', {
          code: status.UNAUTHENTICATED,
          details: 'the service token is not valid: give the gateway and the broker the same ST_SERVICE_TOKEN (or data directory)',
        });
        return;
      }
      widenWindows?.(call);
      new RelayCallHandler(call, opener, logger).start();
    },
  };
}

class RelayCallHandler {
  private exchange: Exchange | undefined;
  private ended = false;
  /** Response bytes the exchange gave us and we have not released yet. */
  private held = 0;
  /** Of those, the bytes written while waiting for 'drain'. */
  private unreleased = 0;
  private waitingDrain = false;

  constructor(
    private readonly call: RelayCall,
    private readonly opener: ExchangeOpener,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.call.on('data', (request: ExchangeRequest) => this.onRequest(request));
    this.call.on('cancelled', () => {
      this.cancel('the gateway cancelled the exchange');
      this.releaseHeld(this.held);
    });
    this.call.on('error', () => {
      this.cancel('the gateway call failed');
      this.releaseHeld(this.held);
    });
    // No 'drain' comes once the call is ending: the tail is released when the call has flushed it
    // or is gone, and only then does the exchange give its window growth back (closeWhenConsumed).
    this.call.on('finish', () => this.releaseHeld(this.held));
    this.call.on('close', () => this.releaseHeld(this.held));
  }

  private onRequest(request: ExchangeRequest): void {
    const f = request.frame;
    if (!f) return;
    if (f.$case === 'open') {
      if (this.exchange || !f.value.request) return;
      const target = { tunnelId: f.value.tunnelId, userId: f.value.userId, streamId: f.value.streamId || undefined };
      this.exchange = this.opener.open(target, f.value.request, {
        head: (status, headers, body, end) => this.writeHead(status, headers, body, end),
        data: (chunk, end) => this.writeData(chunk, end),
        error: (error) => this.fail(error),
      });
      return;
    }
    if (!this.exchange) return;
    // Hold the gateway's request body while the agent has no credit for it.
    this.call.pause();
    void this.exchange.write(f.value.chunk, f.value.end).then(() => this.call.resume());
  }

  private writeHead(statusCode: number, headers: Header[], body: Uint8Array, end: boolean): void {
    this.write({ frame: { $case: 'head', value: { exchangeId: 0, status: statusCode, headers, body, end } } }, body.length);
    if (end) this.finish();
  }

  private writeData(chunk: Uint8Array, end: boolean): void {
    this.write({ frame: { $case: 'data', value: { exchangeId: 0, chunk, end } } }, chunk.length);
    if (end) this.finish();
  }

  /** Releases credit to the agent only as fast as the gateway takes the bytes. */
  private write(response: ExchangeResponse, bytes: number): void {
    if (this.ended) {
      this.exchange?.release(bytes);
      return;
    }
    this.held += bytes;
    const ok = this.call.write(response);
    if (ok && !this.waitingDrain) {
      this.releaseHeld(bytes);
      return;
    }
    this.unreleased += bytes;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.call.once('drain', () => {
        this.waitingDrain = false;
        const n = this.unreleased;
        this.unreleased = 0;
        this.releaseHeld(n);
      });
    }
    if (this.unreleased > UNRELEASED_LIMIT) this.logger.debug({ unreleased: this.unreleased }, 'gateway is slow to read');
  }

  /** Capped by what is held, so that the tail released at the end is never released twice. */
  private releaseHeld(bytes: number): void {
    const n = Math.min(bytes, this.held);
    if (n <= 0) return;
    this.held -= n;
    this.exchange?.release(n);
  }

  private fail(error: TunnelError): void {
    if (this.ended) return;
    if (STATUS_KINDS.has(error.kind)) {
      this.ended = true;
      const metadata = new Metadata();
      metadata.set('st-error-kind', error.kind);
      this.call.emit('error', { ...grpcStatusFor(error), metadata });
      return;
    }
    this.call.write({ frame: { $case: 'error', value: { exchangeId: 0, code: exchangeCodeFor(error.kind), message: error.message } } });
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.call.end();
  }

  private cancel(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.exchange?.cancel(reason);
  }
}
