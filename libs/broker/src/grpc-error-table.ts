import { status } from '@grpc/grpc-js';
import { TunnelError, type TunnelErrorKind } from '@st/tunnel-protocol';

/** The one table from TunnelError kinds to gRPC status codes (and back, for the relay client). */
const KIND_TO_STATUS: Record<TunnelErrorKind, status> = {
  unauthenticated: status.UNAUTHENTICATED,
  not_found: status.NOT_FOUND,
  tunnel_stopped: status.FAILED_PRECONDITION,
  no_agent: status.UNAVAILABLE,
  broker_unavailable: status.UNAVAILABLE,
  draining: status.UNAVAILABLE,
  upstream_unreachable: status.UNAVAILABLE,
  upstream_reset: status.ABORTED,
  stream_lost: status.ABORTED,
  upstream_timeout: status.DEADLINE_EXCEEDED,
  forbidden_path: status.PERMISSION_DENIED,
  bad_request: status.INVALID_ARGUMENT,
  payload_too_large: status.RESOURCE_EXHAUSTED,
  request_timeout: status.DEADLINE_EXCEEDED,
  rate_limited: status.RESOURCE_EXHAUSTED,
  cancelled: status.CANCELLED,
  protocol: status.INTERNAL,
  internal: status.INTERNAL,
};

/** grpc-js's connection errors end in an empty "Resolution note:"; drop that noise. */
function cleanGrpcDetails(details: string): string {
  return details.replace(/\s*Resolution note:\s*$/, '').replace(/\.$/, '');
}

/** A grpc-js service error for a TunnelError: the code, and the message as details. */
export function grpcStatusFor(error: TunnelError): { code: status; details: string } {
  return { code: KIND_TO_STATUS[error.kind], details: error.message };
}

/**
 * The TunnelError for a status the relay received. The relay puts the kind in the
 * `st-error-kind` trailer, which is exact; the code alone is the fallback for older brokers.
 */
export function tunnelErrorFromGrpc(code: status, details: string, kind?: string): TunnelError {
  if (kind && kind in KIND_TO_STATUS) return new TunnelError(kind as TunnelErrorKind, details);
  switch (code) {
    case status.UNAUTHENTICATED:
      return new TunnelError('internal', `the broker refused the gateway's service token: ${details}`);
    case status.NOT_FOUND:
      return new TunnelError('not_found', details);
    case status.FAILED_PRECONDITION:
      return new TunnelError('tunnel_stopped', details);
    case status.UNAVAILABLE:
      // Every UNAVAILABLE the broker itself sends carries st-error-kind; one without it comes
      // from grpc-js: the broker is down or unreachable.
      return new TunnelError('broker_unavailable', `the gateway cannot reach the broker: ${cleanGrpcDetails(details)}; start the broker or check ST_BROKER_ADDRESS`);
    case status.DEADLINE_EXCEEDED:
      return new TunnelError('upstream_timeout', details);
    case status.CANCELLED:
      return new TunnelError('cancelled', details);
    default:
      return new TunnelError('upstream_reset', details || `the broker ended the exchange with gRPC status ${code}`);
  }
}
