import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * Keepalive, set deliberately on both ends.
 *
 * The agent sends an HTTP/2 PING every CLIENT_KEEPALIVE_TIME_MS (with or without calls) and drops
 * the connection when no ACK comes within CLIENT_KEEPALIVE_TIMEOUT_MS. A broker that is gone, or
 * a connection that is half-open (a NAT or firewall forgot it, the broker's host froze, its
 * process was SIGSTOPped), is therefore noticed within time + timeout = 12 s at worst (5 s at
 * best), and the agent reconnects right after. The timeout is not shorter because a PING waits
 * behind whatever is already in the socket's send buffer: on a slow uplink that is busy with a
 * large answer, a few seconds are normal.
 *
 * PITFALLS: a client that pings more often than the server permits gets GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings" (C-core servers and proxies count "ping strikes"; grpc-js
 * itself does not enforce it). The server therefore permits pings every SERVER_MIN_PING_INTERVAL_MS,
 * strictly below the client's ping time with a margin for timer drift, with or without calls.
 * channel-options.spec.ts keeps these relations true.
 */
export const CLIENT_KEEPALIVE_TIME_MS = 7_000;
export const CLIENT_KEEPALIVE_TIMEOUT_MS = 5_000;
/** Shortest ping interval the server accepts from a client (must stay below CLIENT_KEEPALIVE_TIME_MS). */
export const SERVER_MIN_PING_INTERVAL_MS = 5_000;

export const CLIENT_KEEPALIVE_OPTIONS: ChannelOptions = {
  'grpc.keepalive_time_ms': CLIENT_KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': CLIENT_KEEPALIVE_TIMEOUT_MS,
  'grpc.keepalive_permit_without_calls': 1,
};

export const SERVER_KEEPALIVE_OPTIONS: ChannelOptions = {
  // The server pings too, so it drops agents whose host vanished (konnectivity's "hard"
  // disconnects: liveness must come from keepalive, not from the absence of errors).
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': SERVER_MIN_PING_INTERVAL_MS,
  'grpc.http2.max_pings_without_data': 0,
};

/**
 * Bodies travel in chunks far below this (Welcome.max_chunk_bytes), but a batch of frames may
 * reach a few MiB under load; 16 MiB leaves room without letting a peer make us buffer GiBs.
 */
export const MESSAGE_SIZE_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
};

/**
 * Largest message our gRPC servers accept. One message of frames is decoded whole before any
 * of it can be looked at: 16 MiB of Pings is 2.7 M frames and stalled the broker for seconds
 * (issue 7). Agents batch at most FrameSender's MAX_BATCH_BYTES (256 KiB; 1 MiB before 2026-12-03) of bodies per message,
 * the relay sends 64 KiB chunks, and the management calls are small: 2 MiB leaves room for
 * all of them while a hostile message decodes in a fraction of a second (the broker cuts the
 * stream at the first frame over its rate limits). Larger messages end the call with
 * RESOURCE_EXHAUSTED before they are decoded.
 */
export const SERVER_MAX_RECEIVE_MESSAGE_BYTES = 2 * 1024 * 1024;
