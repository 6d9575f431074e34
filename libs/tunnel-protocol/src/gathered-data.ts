import type { Data } from '@st/proto';

/**
 * A Data frame whose chunk is still in parts: the SSE events one turn read from the model server,
 * each a view of the socket's buffer. The frame encoder writes the parts straight into the
 * message it builds, so a body byte is copied once on its way out; joining them first (as st-agent
 * did) copied every byte of a streamed answer twice (issue 9: ~0.5 ms per MB of the agent).
 * `chunk` joins them only for a reader that asks for it (tests, a debugger): senders, sizes and
 * the encoder use `parts` and `byteLength`.
 */
export class GatheredData implements Data {
  private joined: Uint8Array | undefined;

  constructor(
    readonly exchangeId: number,
    readonly parts: readonly Uint8Array[],
    /** The parts' lengths added up. */
    readonly byteLength: number,
    readonly end: boolean,
  ) {}

  get chunk(): Uint8Array {
    return (this.joined ??= Buffer.concat(this.parts, this.byteLength));
  }
}

/** A Data frame's body bytes, without joining a GatheredData's parts. */
export function dataBytes(m: Data): number {
  return m instanceof GatheredData ? m.byteLength : m.chunk.length;
}
