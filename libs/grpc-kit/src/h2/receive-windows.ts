import type { LightStream } from './light-stream';

/**
 * The receiving side of a light connection's flow control: what the peer may still send on the
 * connection and on each stream, given back with WINDOW_UPDATE in quarter-window steps as the
 * application consumes, and opened wide once (an admitted agent; session-windows.ts's policy).
 */
export class ReceiveWindows {
  /** What the peer may still send on the whole connection. */
  connection = 65_535;
  /** SETTINGS_INITIAL_WINDOW_SIZE we announced: a new stream's receive window. */
  stream: number;
  private connectionTarget = 65_535;
  private unacked = 0;
  private widened = false;

  constructor(initialStreamWindow: number) {
    this.stream = initialStreamWindow;
  }

  /** DATA of `length` bytes arrived; false when it is beyond the connection window. */
  take(length: number): boolean {
    if (length > this.connection) return false;
    this.connection -= length;
    return true;
  }

  /** `bytes` were consumed: the connection WINDOW_UPDATE to send now, or 0. */
  creditConnection(bytes: number): number {
    this.unacked += bytes;
    if (this.unacked < this.connectionTarget / 4) return 0;
    const increment = this.unacked;
    this.connection += increment;
    this.unacked = 0;
    return increment;
  }

  /** `bytes` of `stream` were consumed: its WINDOW_UPDATE to send now, or 0. */
  creditStream(stream: LightStream, bytes: number): number {
    stream.recvUnacked += bytes;
    if (stream.recvUnacked < this.stream / 4) return 0;
    const increment = stream.recvUnacked;
    stream.recvWindow += increment;
    stream.recvUnacked = 0;
    return increment;
  }

  /**
   * Opens the windows to `stream` bytes per stream and `connection` bytes for the connection, once;
   * returns the growth of each stream window and the connection WINDOW_UPDATE (undefined: done already).
   */
  widen(streams: Iterable<LightStream>, stream: number, connection: number): { streamDelta: number; connectionIncrement: number } | undefined {
    if (this.widened) return undefined;
    this.widened = true;
    const streamDelta = stream - this.stream;
    this.stream = stream;
    // Applied before the peer's ACK: it may still send under the old (smaller) window, never more.
    for (const s of streams) s.recvWindow += streamDelta;
    const connectionIncrement = Math.max(0, connection - this.connectionTarget);
    this.connectionTarget = Math.max(this.connectionTarget, connection);
    this.connection += connectionIncrement;
    return { streamDelta, connectionIncrement };
  }
}
