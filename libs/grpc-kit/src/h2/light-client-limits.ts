import { CLIENT_KEEPALIVE_TIME_MS, CLIENT_KEEPALIVE_TIMEOUT_MS } from '../channel-options';
import { SERVER_CONNECTION_WINDOW_BYTES, SERVER_STREAM_WINDOW_BYTES } from '../http2-windows';
import type { EndpointLimits } from './h2-endpoint';
import { PEER_FRAME_BUDGETS } from './light-limits';

/**
 * Every bound of the light HTTP/2 client (light-client-connection.ts), which holds one long
 * stream to a broker. The broker is trusted more than an anonymous client is by the server, but a
 * broken or hostile one must still not make the agent buffer without bound: what it may send is
 * the windows below, a message is at most `maxReceiveMessageBytes`, and frames that cost us work
 * without moving data (PINGs, SETTINGS, empty frames, resets) are rate-limited like the server's.
 */
export interface LightClientLimits extends EndpointLimits {
  /** Our receive window for the connection (the stream's is `initialStreamWindow`). */
  connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce on the response headers and trailers. */
  maxHeaderListBytes: number;
  /** Largest gRPC message accepted (MESSAGE_SIZE_OPTIONS); a larger one fails the call with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** The broker's PINGs per second (and burst) before GOAWAY ENHANCE_YOUR_CALM. */
  pingsPerSecond: number;
  pingBurst: number;
}

export const DEFAULT_CLIENT_LIMITS: LightClientLimits = {
  // Request bodies towards a far agent: as large as the broker's own windows (CLIENT_FLOW_CONTROL_OPTIONS
  // gives grpc-js's channel the same), so a long fat link is not one 64 KiB per round trip.
  initialStreamWindow: SERVER_STREAM_WINDOW_BYTES,
  connectionWindow: SERVER_CONNECTION_WINDOW_BYTES,
  maxHeaderListBytes: 16 * 1024,
  maxHeaderBlockBytes: 32 * 1024,
  maxReceiveMessageBytes: 16 * 1024 * 1024,
  ...PEER_FRAME_BUDGETS,
  pingsPerSecond: 10,
  pingBurst: 50,
  // The agent's keepalive as grpc-js had it (CLIENT_KEEPALIVE_OPTIONS): a PING every 7 s, with or
  // without calls, the connection dropped when its ACK takes over 5 s.
  keepaliveTimeMs: CLIENT_KEEPALIVE_TIME_MS,
  keepaliveTimeoutMs: CLIENT_KEEPALIVE_TIMEOUT_MS,
  maxWriteBufferBytes: 1024 * 1024,
  dataWriteHighWater: 256 * 1024,
  streamHighWater: 1024 * 1024,
};
