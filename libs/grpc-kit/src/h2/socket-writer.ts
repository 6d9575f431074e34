import type { Socket } from 'node:net';

/**
 * How a light connection writes: every frame of one turn of the event loop leaves in one writev
 * (the first write corks the socket and a nextTick uncorks it, so an idle connection still writes
 * at once), and while the socket's buffer is above `maxBufferBytes` the peer is not read: a peer
 * that does not read what we owe it (ACKs, WINDOW_UPDATEs, DATA) cannot make us owe more
 * (SETTINGS and PING floods).
 */
export class SocketWriter {
  private corked = false;
  private readPaused = false;

  constructor(
    private readonly socket: Socket,
    private readonly maxBufferBytes: number,
  ) {}

  write(buffer: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    socket.write(buffer);
    if (!this.readPaused && socket.writableLength > this.maxBufferBytes) {
      this.readPaused = true;
      socket.pause();
    }
  }

  /** Bytes waiting in the socket. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  /** Reads the socket again unless its buffer is still full (on 'drain', and to start). */
  resumeReading(force = false): void {
    if (this.readPaused && !force) return;
    this.readPaused = false;
    this.socket.resume();
  }

  /** On 'drain': the peer took what we wrote; read it again. */
  drained(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    this.socket.resume();
  }

  /** @internal (nextTick) */
  uncork(): void {
    this.corked = false;
    this.socket.uncork();
  }
}

function uncork(writer: SocketWriter): void {
  writer.uncork();
}
