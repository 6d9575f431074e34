import { loopIdleTime, noteWrite, wroteRecently } from './loop-load';

/**
 * Serialises and batches the frames of one stream. grpc-js pays per message (a serialisation, a
 * DATA frame, a callback), so frames go out in batches, but a stream waits to batch only under
 * load (issue 9: a `setImmediate` flush made every hop of an idle tunnel wait a turn, and Node's
 * HTTP/2 core, whose socket write is itself deferred to an immediate, then waited one more):
 * - A stream that has not written recently (see loop-load.ts: not in this turn or the one before,
 *   or the process has waited for I/O since) writes from `process.nextTick`: right after the
 *   synchronous burst that produced the frames (a head, its body and its end leave as one
 *   message), still inside the I/O callback, so HTTP/2's own deferred write lands in this very
 *   loop iteration. This is c=1, and a slow model's tokens.
 * - A stream under load (it wrote in the turn before too) flushes from `setImmediate`, so that
 *   what the I/O callbacks of this turn produce rides in one message.
 *
 * Memory is bounded per stream, whatever the peer does (issue 7: a peer that never read made the
 * broker hold 1.5 GB):
 * - grpc-js's `write()` says false only once 16 messages wait in its own buffer (16 MiB of
 *   batches), so the sender counts the bytes written but not yet handed to the socket (the write
 *   callback) and stops writing past {@link MAX_IN_FLIGHT_BYTES}; frames then wait in its queue,
 *   where control frames can still overtake them and a cancelled exchange's frames can be dropped.
 * - `writable` / `whenWritable()` tell body producers to wait while the stream does not drain,
 *   whatever their credit says.
 * - Queued plus in-flight bytes over `queueLimitBytes` call `onOverflow` (the owner cuts the stream).
 * - Control frames (credit, cancel, pong, …) go ahead of queued data, as HTTP/2 sends
 *   WINDOW_UPDATE and RST_STREAM ahead of DATA: a stream busy with bodies still acknowledges,
 *   grants and cancels at once.
 */
export interface FrameTransport<F> {
  /**
   * Writes one batch; calls `written` once the transport has passed it on (grpc-js: the write
   * callback). Returns false when the caller should wait for drain before writing more.
   */
  writeBatch(frames: F[], written: () => void): boolean;
  /** Calls `listener` once when the transport can take more. */
  onceDrain(listener: () => void): void;
}

export interface FrameSenderOptions<F> {
  /** True for frames that go ahead of queued data (default: none). */
  isControl?: (frame: F) => boolean;
  /** Queued plus in-flight bytes above which `onOverflow` is called once (0 or absent: no limit). */
  queueLimitBytes?: number;
  /** Told (once, from a microtask) that the limit was passed, with the bytes then held. */
  onOverflow?: (heldBytes: number) => void;
  /** Written-but-not-passed-on bytes above which the sender waits (default MAX_IN_FLIGHT_BYTES). */
  maxInFlightBytes?: number;
  /** The event loop's time spent waiting for I/O so far, in ms (default loopIdleTime; for tests). */
  idleTime?: () => number;
}

/**
 * A batch is cut at this many frames or bytes (FrameSender's sizeOf: bodies plus a small allowance
 * per frame), whichever comes first, in both directions. The bytes are kept small enough that the
 * broker holds a big answer's 64 KiB chunks as views of the message it received: it copies any
 * chunk under 1/8 of the buffer beneath it (unpinned-chunk.ts), and with 1 MiB batches every byte
 * of a 17 MB answer was copied a second time (issue 9). 256 KiB carries three such chunks per
 * message, and 512 token frames of up to ~500 bytes.
 */
export const MAX_FRAMES_PER_BATCH = 512;
export const MAX_BATCH_BYTES = 256 * 1024;
/** Bytes handed to the transport and not yet passed on before the sender stops writing. */
export const MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

export class FrameSender<F> {
  private queue: F[] = [];
  private control: F[] = [];
  private producers: (() => void)[] = [];
  private writableWaiters: (() => void)[] = [];
  private queueBytes = 0;
  private controlBytes = 0;
  private inFlight = 0;
  /** When the last write was (loop-load.ts), which tells a stream under load from an idle one. */
  private lastWriteTurn = -2;
  private idleAtLastWrite = 0;
  private readonly idleTime: () => number;
  private scheduled = false;
  /** Waiting for the transport's drain. */
  private blocked = false;
  /** Waiting for written batches to be passed on. */
  private throttled = false;
  private overflowed = false;
  private closed = false;
  private readonly isControl: (frame: F) => boolean;
  private readonly maxInFlight: number;

  constructor(
    private readonly transport: FrameTransport<F>,
    private readonly sizeOf: (frame: F) => number,
    private readonly options: FrameSenderOptions<F> = {},
  ) {
    this.isControl = options.isControl ?? (() => false);
    this.maxInFlight = options.maxInFlightBytes ?? MAX_IN_FLIGHT_BYTES;
    this.idleTime = options.idleTime ?? loopIdleTime;
  }

  /** Queues a frame; data frames are written in order, control frames ahead of queued data. */
  send(frame: F): void {
    if (this.closed) return;
    const size = this.sizeOf(frame);
    if (this.isControl(frame)) {
      this.control.push(frame);
      this.controlBytes += size;
    } else {
      this.queue.push(frame);
      this.queueBytes += size;
    }
    this.checkLimit();
    this.schedule();
  }

  /**
   * Asks `producer` to send its frames just before the next batch is written. An exchange whose
   * model server writes many small chunks (one per SSE event) thus turns all the chunks of one
   * burst (of one event-loop turn, under load) into one frame, instead of paying a frame and a
   * client write for each. A stream that does not drain runs its producers only once it does, so
   * a producer that sends the latest state (a Pong to the newest Ping) is owed at most once.
   */
  beforeFlush(producer: () => void): void {
    if (this.closed) return;
    this.producers.push(producer);
    this.schedule();
  }

  /**
   * Removes queued (not yet written) frames that `match`, e.g. the Data of an exchange that is
   * being cancelled; returns them.
   */
  dropQueued(match: (frame: F) => boolean): F[] {
    const dropped: F[] = [];
    const keep = (queue: F[]): [F[], number] => {
      const kept: F[] = [];
      let bytes = 0;
      for (const frame of queue) {
        if (match(frame)) {
          dropped.push(frame);
          bytes += this.sizeOf(frame);
        } else kept.push(frame);
      }
      return [kept, bytes];
    };
    let bytes: number;
    [this.queue, bytes] = keep(this.queue);
    this.queueBytes -= bytes;
    [this.control, bytes] = keep(this.control);
    this.controlBytes -= bytes;
    return dropped;
  }

  private schedule(): void {
    if (this.scheduled || this.blocked || this.throttled) return;
    this.scheduled = true;
    if (wroteRecently(this.lastWriteTurn, this.idleAtLastWrite, this.idleTime())) setImmediate(this.flush);
    else process.nextTick(this.flush);
  }

  /** Frames waiting to be written (for tests and metrics). */
  get pending(): number {
    return this.queue.length + this.control.length;
  }

  /** Bytes of frames waiting to be written. */
  get pendingBytes(): number {
    return this.queueBytes + this.controlBytes;
  }

  /** Bytes written to the transport that it has not passed on yet. */
  get inFlightBytes(): number {
    return this.inFlight;
  }

  /**
   * False while the stream does not drain (waiting for drain, or queued plus in-flight bytes at
   * the in-flight limit): producers of bodies should wait (see whenWritable). Checked per chunk,
   * so many producers in one turn cannot pile up more than a chunk each beyond the limit.
   */
  get writable(): boolean {
    return this.closed || (!this.blocked && !this.throttled && this.queueBytes + this.controlBytes + this.inFlight < this.maxInFlight);
  }

  /** Resolves once the stream drains (at once when it does; also when the sender is closed). */
  whenWritable(): Promise<void> {
    if (this.writable) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** Drops everything still queued; later sends are ignored. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.control = [];
    this.producers = [];
    this.queueBytes = 0;
    this.controlBytes = 0;
    this.wakeWriters();
  }

  private checkLimit(): void {
    const limit = this.options.queueLimitBytes ?? 0;
    if (limit <= 0 || this.overflowed) return;
    const held = this.queueBytes + this.controlBytes + this.inFlight;
    if (held <= limit) return;
    this.overflowed = true;
    // Not from inside send(): the owner closes the stream, which fails the exchange now sending.
    queueMicrotask(() => this.options.onOverflow?.(held));
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.producers.length > 0) {
      const producers = this.producers;
      this.producers = [];
      for (const produce of producers) produce();
    }
    if (this.control.length > 0) {
      this.queue = this.queue.length === 0 ? this.control : this.control.concat(this.queue);
      this.queueBytes += this.controlBytes;
      this.control = [];
      this.controlBytes = 0;
    }
    while (this.queue.length > 0 && !this.closed) {
      let batch: F[];
      let bytes: number;
      if (this.queue.length <= MAX_FRAMES_PER_BATCH && this.queueBytes <= MAX_BATCH_BYTES) {
        batch = this.queue;
        bytes = this.queueBytes;
        this.queue = [];
        this.queueBytes = 0;
      } else {
        [batch, bytes] = this.takeBatch();
      }
      this.inFlight += bytes;
      this.lastWriteTurn = noteWrite();
      this.idleAtLastWrite = this.idleTime();
      const ok = this.transport.writeBatch(batch, () => this.onWritten(bytes));
      if (!ok) {
        this.blocked = true;
        this.transport.onceDrain(this.onDrain);
        return;
      }
      if (this.inFlight > this.maxInFlight) {
        this.throttled = true;
        return;
      }
    }
    this.wakeWriters();
  };

  private takeBatch(): [F[], number] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < MAX_FRAMES_PER_BATCH) {
      const size = this.sizeOf(this.queue[count]);
      if (count > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      count++;
    }
    this.queueBytes -= bytes;
    return [this.queue.splice(0, count), bytes];
  }

  private onWritten(bytes: number): void {
    if (this.closed) return;
    this.inFlight -= bytes;
    if (this.throttled && this.inFlight <= this.maxInFlight) {
      this.throttled = false;
      this.resumed();
    } else this.wakeWriters();
  }

  private readonly onDrain = (): void => {
    if (this.closed) return;
    this.blocked = false;
    if (this.throttled) return;
    this.wakeWriters();
    this.flush();
  };

  private resumed(): void {
    if (this.blocked || this.throttled) return;
    this.wakeWriters();
    if (this.queue.length > 0 || this.control.length > 0 || this.producers.length > 0) this.schedule();
  }

  private wakeWriters(): void {
    if (this.writableWaiters.length === 0 || !this.writable) return;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const wake of waiters) wake();
  }
}
