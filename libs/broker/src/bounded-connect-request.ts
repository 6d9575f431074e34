import type { ConnectRequest } from '@st/proto';
import { FAST_TUNNEL_SERVICE, MAX_FRAMES_PER_BATCH, decodeAgentFrames } from '@st/tunnel-protocol';

/**
 * Most frames the broker decodes from one ConnectRequest. st-agent batches at most
 * MAX_FRAMES_PER_BATCH; the margin is for other implementations. grpc-js decodes a message whole
 * before the handler sees any of it, and 2 MiB of Pings are 300,000 frames, most of a second of
 * decoding on a busy host for every tenant (issue 7): past this count the rest is not decoded.
 */
export const MAX_FRAMES_PER_MESSAGE = 8 * MAX_FRAMES_PER_BATCH;

/** A ConnectRequest as the broker reads it. */
export interface BoundedConnectRequest extends ConnectRequest {
  /** The message held more than MAX_FRAMES_PER_MESSAGE frames; `frames` is then empty. */
  oversized?: true;
}

/** ConnectRequest.decode (the tunnel's own decoder: same result), stopping at MAX_FRAMES_PER_MESSAGE frames. */
export function decodeConnectRequest(input: Uint8Array): BoundedConnectRequest {
  const frames = decodeAgentFrames(input, MAX_FRAMES_PER_MESSAGE);
  return frames ? { frames } : { frames: [], oversized: true };
}

/** sessiontunnel.v1.TunnelService for the broker's gRPC server: the tunnel's codec, with the bounded decoder. */
export const BOUNDED_TUNNEL_SERVICE = {
  connect: { ...FAST_TUNNEL_SERVICE.connect, requestDeserialize: (value: Buffer): BoundedConnectRequest => decodeConnectRequest(value) },
} as const;
