import { BinaryReader } from '@bufbuild/protobuf/wire';
import { AgentFrame, type ConnectRequest, TunnelServiceService } from '@st/proto';
import { MAX_FRAMES_PER_BATCH } from '@st/tunnel-protocol';

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

/** ConnectRequest.decode, stopping at MAX_FRAMES_PER_MESSAGE frames (same wire walk as the generated code). */
export function decodeConnectRequest(input: Uint8Array): BoundedConnectRequest {
  const reader = new BinaryReader(input);
  const frames: AgentFrame[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) {
      if (frames.length >= MAX_FRAMES_PER_MESSAGE) return { frames: [], oversized: true };
      frames.push(AgentFrame.decode(reader, reader.uint32()));
      continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    reader.skip(tag & 7);
  }
  return { frames };
}

/** sessiontunnel.v1.TunnelService for the broker's gRPC server, with the bounded decoder. */
export const BOUNDED_TUNNEL_SERVICE = {
  connect: { ...TunnelServiceService.connect, requestDeserialize: (value: Buffer): BoundedConnectRequest => decodeConnectRequest(value) },
} as const;
