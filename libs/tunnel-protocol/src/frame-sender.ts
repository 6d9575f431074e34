/**
 * Serialises and batches the frames of one stream. Frames queued during one turn of the event
 * loop go out as ONE gRPC message (grpc-js pays per message: a DATA frame, a serialisation, a
 * callback), flushed from setImmediate so that everything produced by the I/O callbacks of this
 * turn rides together. When the transport reports back-pressure (write() returned false) the
 * queue waits for `drain`; per-exchange credit bounds how much can pile up meanwhile.
 */
export interface FrameTransport<F> {
  /** Writes one batch; returns false when the caller should wait for drain before writing more. */
  writeBatch(frames: F[]): boolean;
  /** Calls `listener` once when the transport can take more. */
  onceDrain(listener: () => void): void;
}

/** A batch is cut at this many frames or body bytes, whichever comes first. */
export const MAX_FRAMES_PER_BATCH = 512;
export const MAX_BATCH_BYTES = 1024 * 1024;

export class FrameSender<F> {
  private queue: F[] = [];
  private producers: (() => void)[] = [];
  private queueBytes = 0;
  private scheduled = false;
  private blocked = false;
  private closed = false;

  constructor(
    private readonly transport: FrameTransport<F>,
    private readonly sizeOf: (frame: F) => number,
  ) {}

  /** Queues a frame; it is written in order with every other frame of this stream. */
  send(frame: F): void {
    if (this.closed) return;
    this.queue.push(frame);
    this.queueBytes += this.sizeOf(frame);
    this.schedule();
  }

  /**
   * Asks `producer` to send its frames just before the next batch is written. An exchange whose
   * model server writes many small chunks (one per SSE event) thus turns all the chunks of one
   * event-loop turn into one frame, instead of paying a frame and a client write for each.
   */
  beforeFlush(producer: () => void): void {
    if (this.closed) return;
    this.producers.push(producer);
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Frames waiting to be written (for tests and metrics). */
  get pending(): number {
    return this.queue.length;
  }

  /** Bytes of body waiting to be written. */
  get pendingBytes(): number {
    return this.queueBytes;
  }

  /** Drops everything still queued; later sends are ignored. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.producers = [];
    this.queueBytes = 0;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.producers.length > 0) {
      const producers = this.producers;
      this.producers = [];
      for (const produce of producers) produce();
    }
    while (this.queue.length > 0 && !this.closed) {
      let batch: F[];
      if (this.queue.length <= MAX_FRAMES_PER_BATCH && this.queueBytes <= MAX_BATCH_BYTES) {
        batch = this.queue;
        this.queue = [];
        this.queueBytes = 0;
      } else {
        batch = this.takeBatch();
      }
      if (!this.transport.writeBatch(batch)) {
        this.blocked = true;
        this.transport.onceDrain(this.onDrain);
        return;
      }
    }
  };

  private takeBatch(): F[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < MAX_FRAMES_PER_BATCH) {
      const size = this.sizeOf(this.queue[count]);
      if (count > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      count++;
    }
    this.queueBytes -= bytes;
    return this.queue.splice(0, count);
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    this.flush();
  };
}
