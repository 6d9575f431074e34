import type { TunnelError } from '@st/tunnel-protocol';

/**
 * The limits whose refusals are counted (st_limit_refusals_total{limit}), named after their
 * settings. A bounded set, shared by the gateway and the broker.
 */
export const GATEWAY_LIMITS = [
  'user_rps',
  'user_concurrency',
  'tunnel_concurrency',
  'max_body',
  'json_depth',
  'body_idle',
  'body_min_rate',
  'max_connections',
] as const;
export type GatewayLimit = (typeof GATEWAY_LIMITS)[number];

/**
 * Which limit an error answer stands for, or undefined when it is no limit's. Runs only on
 * refusals (never on an answer that went through); the messages name their setting (errors say
 * what to change), which is what tells the limits of one kind apart.
 */
export function limitOf(error: TunnelError): GatewayLimit | undefined {
  switch (error.kind) {
    case 'rate_limited':
      if (error.message.includes('ST_LIMIT_TUNNEL_CONCURRENCY')) return 'tunnel_concurrency';
      if (error.message.includes('ST_LIMIT_USER_CONCURRENCY')) return 'user_concurrency';
      return 'user_rps';
    case 'payload_too_large':
      return 'max_body';
    case 'bad_request':
      return error.message.includes('ST_MAX_JSON_DEPTH') ? 'json_depth' : undefined;
    case 'request_timeout':
      if (error.message.includes('ST_BODY_MIN_RATE')) return 'body_min_rate';
      return error.message.includes('ST_BODY_IDLE_TIMEOUT_MS') ? 'body_idle' : undefined;
    default:
      return undefined;
  }
}
