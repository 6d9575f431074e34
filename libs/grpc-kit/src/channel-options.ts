import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * Keepalive, set deliberately on both ends (PITFALLS: a client pinging more often than the
 * server permits gets GOAWAY too_many_pings). The agent pings every 10 s and gives up after 5 s
 * without an answer, so a dead broker or a half-open connection is noticed within ~15 s; the
 * server permits pings every 5 s, with or without calls.
 */
export const CLIENT_KEEPALIVE_TIME_MS = 10_000;
export const CLIENT_KEEPALIVE_TIMEOUT_MS = 5_000;

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
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
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
