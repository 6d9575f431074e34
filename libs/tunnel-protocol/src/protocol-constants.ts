/**
 * The protocol revision this code speaks (see proto/sessiontunnel/v1/tunnel.proto). Revision 2:
 * a receiver may grow an exchange's window beyond receive_window (up to MAX_RECEIVE_WINDOW) by
 * granting credit for bytes it has not consumed yet; a revision-1 broker cuts an agent that does.
 */
export const PROTOCOL_VERSION = 2;

/**
 * Initial per-exchange window for bodies. 256 KiB keeps a loopback stream far from credit-bound
 * (one round trip of ~0.1 ms moves a window) while 2,000 stalled readers cost at most ~0.5 GiB.
 * Windows grow from here only while their reader keeps up (AutoReceiveWindow).
 */
export const DEFAULT_RECEIVE_WINDOW = 256 * 1024;

/**
 * Largest per-exchange window after auto-tuning: 4 MiB moves ~80 MB/s over a 50 ms round trip
 * (ssh -R's channels have 2 MiB).
 */
export const MAX_RECEIVE_WINDOW = 4 * 1024 * 1024;

/** Window growth the exchanges of one agent stream may hold together, beyond their initial windows. */
export const STREAM_WINDOW_GROWTH_BYTES = 32 * 1024 * 1024;

/** Window growth all exchanges of one process may hold together (bounds stalled readers that were fast first). */
export const PROCESS_WINDOW_GROWTH_BYTES = 256 * 1024 * 1024;

/** Largest body chunk in one Data frame; far below gRPC's 4 MiB default message limit. */
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024;

/** How often the broker pings each agent stream (application level, on top of HTTP/2 keepalive). */
export const DEFAULT_PING_INTERVAL_MS = 15_000;

/** How often agents probe their model server's /v1/models, unless the broker says otherwise. */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;

/** Capability strings (tunnel.proto lists their meaning). */
export const CAPABILITY_FLOW_CONTROL = 'flow-control';
export const CAPABILITY_HEALTH_REPORT = 'health-report';
