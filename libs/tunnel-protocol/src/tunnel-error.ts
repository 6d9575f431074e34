import { ExchangeErrorCode } from '@st/proto';

/**
 * Every way an exchange can fail, named for what the caller should understand. The gateway maps
 * these to HTTP statuses (gateway/http-error-table.ts) and the relay to gRPC codes
 * (broker/grpc-error-table.ts); nothing else decides those mappings.
 */
export type TunnelErrorKind =
  | 'unauthenticated' // bad or missing credentials
  | 'not_found' // no such tunnel for this caller (also: someone else's tunnel)
  | 'tunnel_stopped' // the tunnel or its session is stopped
  | 'no_agent' // started, but no agent is connected
  | 'broker_unavailable' // a gateway cannot reach its broker (split layout)
  | 'draining' // the agent or broker is going away and takes no new exchanges
  | 'upstream_unreachable' // the agent cannot connect to the model server
  | 'upstream_reset' // the model server's answer broke off in the middle
  | 'stream_lost' // the agent's stream (or the broker holding it) went away before the answer completed
  | 'upstream_timeout' // no first reply, or silence between chunks, past the deadline
  | 'forbidden_path' // a path the agent does not forward
  | 'bad_request' // the caller's request is malformed
  | 'payload_too_large' // the caller's body is over the limit
  | 'request_timeout' // the caller's body stalled or trickled (ST_BODY_IDLE_TIMEOUT_MS, ST_BODY_MIN_RATE)
  | 'rate_limited' // the caller is over a request rate or concurrency limit (ST_LIMIT_*)
  | 'cancelled' // the caller went away
  | 'protocol' // a peer broke the tunnel protocol
  | 'internal'; // a bug or an unexpected failure

/** An error with a kind that decides its status in each protocol, and a message with cause and fix. */
export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  /** When retrying can help after a known wait (rate limits): seconds, for Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    readonly kind: TunnelErrorKind,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

const CODE_TO_KIND: Record<number, TunnelErrorKind> = {
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_UNREACHABLE]: 'upstream_unreachable',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_RESET]: 'upstream_reset',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_FORBIDDEN_PATH]: 'forbidden_path',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_DRAINING]: 'draining',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_PROTOCOL]: 'protocol',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_INTERNAL]: 'internal',
  [ExchangeErrorCode.EXCHANGE_ERROR_CODE_STREAM_LOST]: 'stream_lost',
};

const KIND_TO_CODE: Partial<Record<TunnelErrorKind, ExchangeErrorCode>> = {
  upstream_unreachable: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_UNREACHABLE,
  upstream_reset: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_RESET,
  forbidden_path: ExchangeErrorCode.EXCHANGE_ERROR_CODE_FORBIDDEN_PATH,
  draining: ExchangeErrorCode.EXCHANGE_ERROR_CODE_DRAINING,
  protocol: ExchangeErrorCode.EXCHANGE_ERROR_CODE_PROTOCOL,
  stream_lost: ExchangeErrorCode.EXCHANGE_ERROR_CODE_STREAM_LOST,
};

/** The TunnelError an agent's ExchangeError frame stands for. */
export function errorFromExchangeCode(code: ExchangeErrorCode, message: string): TunnelError {
  return new TunnelError(CODE_TO_KIND[code] ?? 'internal', message || 'the agent reported an unspecified error');
}

/** The ExchangeError code to put on the wire for a TunnelError. */
export function exchangeCodeFor(kind: TunnelErrorKind): ExchangeErrorCode {
  return KIND_TO_CODE[kind] ?? ExchangeErrorCode.EXCHANGE_ERROR_CODE_INTERNAL;
}
