/** The protocol revision this code speaks (see proto/sessiontunnel/v1/tunnel.proto). */
export const PROTOCOL_VERSION = 1;

/**
 * Per-exchange window for bodies. 256 KiB keeps a loopback stream far from credit-bound (one
 * round trip of ~0.1 ms moves a window) while 2,000 stalled readers cost at most ~0.5 GiB.
 */
export const DEFAULT_RECEIVE_WINDOW = 256 * 1024;

/** Largest body chunk in one Data frame; far below gRPC's 4 MiB default message limit. */
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;

/** How often the broker pings each agent stream (application level, on top of HTTP/2 keepalive). */
export const DEFAULT_PING_INTERVAL_MS = 15_000;

/** How often agents probe their model server's /v1/models, unless the broker says otherwise. */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;

/** Capability strings (tunnel.proto lists their meaning). */
export const CAPABILITY_FLOW_CONTROL = 'flow-control';
export const CAPABILITY_HEALTH_REPORT = 'health-report';
