/**
 * A body chunk from the agent, safe to hold while a caller stalls. The frame decoder hands out
 * views into the gRPC message's buffer (no copy), and credit counts only the chunk's bytes: a
 * hostile agent could pad a 2 MiB message with unknown fields around a 1-byte chunk, and the
 * gateway would keep the whole 2 MiB alive for the 1 byte the window allowed. A chunk much smaller
 * than the buffer under it is copied, so what a stalled caller pins stays within a few times its
 * window. One comparison per chunk; the copies are small by construction.
 */
export function unpinnedChunk(chunk: Uint8Array): Uint8Array {
  if (chunk.length * 8 >= chunk.buffer.byteLength) return chunk;
  // Buffer.from copies small chunks into Node's shared pool: ~70 ns for an SSE event, against
  // ~500 ns for a fresh ArrayBuffer (Uint8Array#slice). Consecutive copies share a pool slab, so
  // they pin about what they hold.
  return chunk.length === 0 ? EMPTY : Buffer.from(chunk);
}

const EMPTY = new Uint8Array(0);
