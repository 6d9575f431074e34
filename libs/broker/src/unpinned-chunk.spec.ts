import type { AgentFrame } from '@st/proto';
import { DEFAULT_MAX_CHUNK_BYTES, FrameSender, agentFrameSize, decodeConnectRequest, encodeConnectRequest } from '@st/tunnel-protocol';
import { describe, expect, it } from 'vitest';
import { unpinnedChunk } from './unpinned-chunk';

/** The messages st-agent's FrameSender would write for these frames, as the broker receives them. */
async function received(frames: AgentFrame[]): Promise<{ chunks: Uint8Array[]; messages: number }> {
  const messages: Buffer[] = [];
  const sender = new FrameSender<AgentFrame>(
    {
      writeBatch: (batch, written) => {
        messages.push(encodeConnectRequest({ frames: batch }));
        written();
        return true;
      },
      onceDrain: () => {},
    },
    agentFrameSize,
  );
  for (const frame of frames) sender.send(frame);
  await new Promise((r) => setImmediate(r));
  const chunks = messages.flatMap((m) => decodeConnectRequest(m).frames.flatMap((f) => (f.frame?.$case === 'data' ? [f.frame.value.chunk] : [])));
  return { chunks, messages: messages.length };
}

const data = (exchangeId: number, chunk: Uint8Array): AgentFrame => ({ frame: { $case: 'data', value: { exchangeId, chunk, end: false } } });

describe('unpinnedChunk', () => {
  it('holds a big answer’s chunks, batched as st-agent batches them, as views of the message (no second copy)', async () => {
    const frames = Array.from({ length: 40 }, (_, i) => data(1 + (i % 3), new Uint8Array(DEFAULT_MAX_CHUNK_BYTES).fill(i)));
    const { chunks, messages } = await received(frames);
    expect(chunks).toHaveLength(40);
    expect(messages).toBeLessThanOrEqual(20); // batched, not a message per chunk
    chunks.forEach((chunk, i) => {
      expect(chunk[0]).toBe(i);
      expect(unpinnedChunk(chunk)).toBe(chunk);
    });
  });

  it('copies a small chunk out of a big message, so a stalled caller does not pin the rest', async () => {
    const padding = data(9, new Uint8Array(DEFAULT_MAX_CHUNK_BYTES));
    const {
      chunks: [, tiny],
    } = await received([padding, data(1, new Uint8Array([42]))]);
    const held = unpinnedChunk(tiny);
    expect(held).not.toBe(tiny);
    expect([...held]).toEqual([42]);
    expect(held.buffer.byteLength).toBeLessThan(DEFAULT_MAX_CHUNK_BYTES);
  });
});
