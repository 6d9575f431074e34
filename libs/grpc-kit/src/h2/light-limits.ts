import { SERVER_KEEPALIVE_OPTIONS, SERVER_MAX_RECEIVE_MESSAGE_BYTES, SERVER_MIN_PING_INTERVAL_MS } from '../channel-options';
import { SERVER_CONNECTION_WINDOW_BYTES, SERVER_STREAM_WINDOW_BYTES, UNADMITTED_STREAM_WINDOW_BYTES } from '../http2-windows';

/**
 * Every bound of the light HTTP/2 server (light-connection.ts) in one place. A light connection
 * serves one kind of peer (agents holding one TunnelService/Connect stream each), so the limits
 * are far below what a general-purpose server needs and a peer that passes them is answered with
 * the HTTP/2 error a public port owes it (GOAWAY or RST_STREAM with a code), never with memory.
 */
export interface LightLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce; streams above it get RST_STREAM REFUSED_STREAM. */
  maxConcurrentStreams: number;
  /** Our stream receive window before admission (SETTINGS_INITIAL_WINDOW_SIZE; RFC default). */
  initialStreamWindow: number;
  /** After `widen` (an admitted agent): stream and connection receive windows, as session-windows.ts. */
  widenedStreamWindow: number;
  widenedConnectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce on the decoded list. */
  maxHeaderListBytes: number;
  /** Raw bytes of one header block (HEADERS + CONTINUATIONs) before GOAWAY (CONTINUATION flood). */
  maxHeaderBlockBytes: number;
  /** Largest gRPC message accepted; larger ones end the call with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** Stream opens per second (and burst) before GOAWAY ENHANCE_YOUR_CALM. */
  streamOpensPerSecond: number;
  streamOpenBurst: number;
  /** Client RST_STREAMs per second (and burst) before GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487). */
  resetsPerSecond: number;
  resetBurst: number;
  /** SETTINGS frames per second (and burst) before GOAWAY ENHANCE_YOUR_CALM. */
  settingsPerSecond: number;
  settingsBurst: number;
  /** Frames on closed streams or empty frames per second (and burst) before GOAWAY ENHANCE_YOUR_CALM. */
  uselessFramesPerSecond: number;
  uselessFrameBurst: number;
  /** Our keepalive: a PING after this long, the connection dropped when its ACK takes longer than the timeout. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** Shortest interval between the client's pings; sooner ones are strikes (grpc's ping policy). */
  minPingIntervalMs: number;
  /** Strikes tolerated before GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (C-core's default 2). */
  maxPingStrikes: number;
  /** Bytes in the socket's write buffer above which we stop reading the peer (it does not read ours). */
  maxWriteBufferBytes: number;
  /** Socket bytes above which queued DATA waits for 'drain' (bounds what flow control lets out). */
  dataWriteHighWater: number;
  /** Bytes queued on one stream above which call.write returns false. */
  streamHighWater: number;
}

/**
 * What either end lets its peer spend on frames that cost it work and give nothing back (RST_STREAM,
 * SETTINGS, empty or useless frames), per second with a burst: the same floods hit a broker and an agent.
 */
export const PEER_FRAME_BUDGETS = {
  resetsPerSecond: 10,
  resetBurst: 50,
  settingsPerSecond: 10,
  settingsBurst: 50,
  uselessFramesPerSecond: 100,
  uselessFrameBurst: 500,
} as const;

const keepaliveTime = Number(SERVER_KEEPALIVE_OPTIONS['grpc.keepalive_time_ms']);
const keepaliveTimeout = Number(SERVER_KEEPALIVE_OPTIONS['grpc.keepalive_timeout_ms']);

export const DEFAULT_LIGHT_LIMITS: LightLimits = {
  maxConcurrentStreams: 100,
  initialStreamWindow: UNADMITTED_STREAM_WINDOW_BYTES,
  widenedStreamWindow: SERVER_STREAM_WINDOW_BYTES,
  widenedConnectionWindow: SERVER_CONNECTION_WINDOW_BYTES,
  maxHeaderListBytes: 16 * 1024,
  maxHeaderBlockBytes: 32 * 1024,
  maxReceiveMessageBytes: SERVER_MAX_RECEIVE_MESSAGE_BYTES,
  // An agent opens one stream per connection and reopens it after a refusal, with backoff.
  streamOpensPerSecond: 20,
  streamOpenBurst: 100,
  ...PEER_FRAME_BUDGETS,
  keepaliveTimeMs: keepaliveTime,
  keepaliveTimeoutMs: keepaliveTimeout,
  minPingIntervalMs: SERVER_MIN_PING_INTERVAL_MS,
  maxPingStrikes: 2,
  maxWriteBufferBytes: 1024 * 1024,
  dataWriteHighWater: 256 * 1024,
  streamHighWater: 1024 * 1024,
};

/** The default SETTINGS_MAX_FRAME_SIZE, which we keep for what we receive. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
