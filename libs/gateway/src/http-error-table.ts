import type { TunnelErrorKind } from '@st/tunnel-protocol';

/** HTTP status and OpenAI error type/code for each kind of failure: the only such table. */
const TABLE: Record<TunnelErrorKind, { status: number; type: string; code: string }> = {
  unauthenticated: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  not_found: { status: 404, type: 'invalid_request_error', code: 'tunnel_not_found' },
  tunnel_stopped: { status: 503, type: 'service_unavailable', code: 'tunnel_stopped' },
  no_agent: { status: 503, type: 'service_unavailable', code: 'tunnel_not_connected' },
  broker_unavailable: { status: 503, type: 'service_unavailable', code: 'broker_unavailable' },
  draining: { status: 503, type: 'service_unavailable', code: 'tunnel_draining' },
  upstream_unreachable: { status: 502, type: 'upstream_error', code: 'upstream_unreachable' },
  upstream_reset: { status: 502, type: 'upstream_error', code: 'upstream_reset' },
  // To the caller a lost stream is the same broken answer; only the gateway's retry tells them apart.
  stream_lost: { status: 502, type: 'upstream_error', code: 'upstream_reset' },
  upstream_timeout: { status: 504, type: 'timeout', code: 'upstream_timeout' },
  forbidden_path: { status: 403, type: 'invalid_request_error', code: 'path_not_forwarded' },
  bad_request: { status: 400, type: 'invalid_request_error', code: 'invalid_request' },
  payload_too_large: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  request_timeout: { status: 408, type: 'invalid_request_error', code: 'request_timeout' },
  // OpenAI's own 429: SDKs recognise it and back off by Retry-After.
  rate_limited: { status: 429, type: 'requests', code: 'rate_limit_exceeded' },
  cancelled: { status: 499, type: 'cancelled', code: 'client_closed_request' },
  protocol: { status: 502, type: 'upstream_error', code: 'tunnel_protocol_error' },
  internal: { status: 500, type: 'server_error', code: 'internal_error' },
};

export function httpErrorFor(kind: TunnelErrorKind): { status: number; type: string; code: string } {
  return TABLE[kind];
}
