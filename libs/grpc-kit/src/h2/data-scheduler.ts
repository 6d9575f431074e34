import { FRAME, frameHeader } from './h2-frames';
import { DEFAULT_MAX_FRAME_SIZE } from './light-limits';
import type { LightStream } from './light-stream';
import type { SocketWriter } from './socket-writer';

/**
 * The sending side of a light connection's flow control: which streams have DATA queued, the
 * peer's connection window, and the pump that lets DATA out while both windows and the socket's
 * buffer allow, one frame per stream per round (a busy stream cannot starve the others).
 */
export class DataScheduler {
  /** What the peer lets us send on the whole connection. */
  window = 65_535;
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private readonly queued = new Set<LightStream>();
  private pumping = false;
  private stopped = false;

  constructor(
    private readonly writer: SocketWriter,
    /** Socket bytes above which DATA waits for 'drain'. */
    private readonly highWater: number,
    /** Told whenever DATA went out (grpc's ping policy forgives strikes then). */
    private readonly sent: { forgive(): void },
  ) {}

  /** `stream` has DATA queued (or a window of it grew): send what can go now. */
  schedule(stream: LightStream): void {
    this.queued.add(stream);
    this.pump();
  }

  /** Like schedule, without sending yet (a SETTINGS frame changes many windows at once). */
  add(stream: LightStream): void {
    this.queued.add(stream);
  }

  forget(stream: LightStream): void {
    this.queued.delete(stream);
  }

  /** The connection is gone: nothing more is sent. */
  stop(): void {
    this.stopped = true;
    this.queued.clear();
  }

  pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      let progress = true;
      while (progress && this.queued.size > 0) {
        progress = false;
        for (const stream of this.queued) {
          if (this.window <= 0 || this.writer.buffered >= this.highWater) return;
          // Reset, emptied, or waiting for its own WINDOW_UPDATE (which schedules it again).
          if (stream.reset || stream.queuedBytes === 0 || stream.sendWindow <= 0) {
            this.queued.delete(stream);
            continue;
          }
          const max = Math.min(this.window, stream.sendWindow, this.maxFrameSize);
          const { parts, bytes, done } = stream.take(max);
          this.window -= bytes;
          this.sent.forgive();
          this.writer.write(frameHeader(FRAME.DATA, 0, stream.id, bytes));
          for (const part of parts) this.writer.write(part);
          for (const cb of done) cb();
          progress = true;
          if (stream.queuedBytes === 0) this.queued.delete(stream);
          stream.afterSend();
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
