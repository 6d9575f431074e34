import { DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, PROCESS_WINDOW_GROWTH_BYTES } from './protocol-constants';

/**
 * Bytes by which receive windows may grow beyond their initial size, shared by the exchanges that
 * draw on it (one agent stream) and bounded again by a parent (the whole process). Growth taken
 * is given back once the exchange has ended and its consumer has finished with every byte it got
 * (AutoReceiveWindow.closeWhenConsumed). This is what bounds memory when readers that were fast
 * stall: each holds at most its initial window plus what it drew from here.
 */
export class GrowthBudget {
  constructor(
    private left: number,
    private readonly parent?: GrowthBudget,
  ) {}

  get bytes(): number {
    return this.parent ? Math.min(this.left, this.parent.bytes) : this.left;
  }

  /** Takes up to `wanted` bytes; returns what was taken (0 when the budget is spent). */
  take(wanted: number): number {
    const n = Math.max(0, Math.min(wanted, this.bytes));
    if (n === 0) return 0;
    this.left -= n;
    this.parent?.takeExactly(n);
    return n;
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.left += bytes;
    this.parent?.give(bytes);
  }

  private takeExactly(bytes: number): void {
    this.left -= bytes;
    this.parent?.takeExactly(bytes);
  }
}

/** Growth every receive window of this process may share (see GrowthBudget). */
export const processGrowthBudget = new GrowthBudget(PROCESS_WINDOW_GROWTH_BYTES);

/**
 * The receiver's side of per-exchange flow control, with auto-tuning: counts bytes the consumer
 * has finished with, says when to send a Credit frame, and grows the window while the window (not
 * the consumer) is what limits the exchange.
 *
 * Credit goes back in quarters of the window, so that a fast stream sends a few Credit frames, not
 * one per chunk. When a quarter is due and the consumer has caught up (at most a quarter of the
 * window arrived and is still unconsumed), the sender is the one waiting: over a long link the
 * window empties once per round trip. The window then doubles (up to `max` and what the budget
 * allows) and the extra bytes ride in the same Credit. A reader that stalls returns no credit and
 * never grows; one that reads slower than the sender sends keeps its buffer above a quarter and
 * does not grow either. No clock is involved: the same frames give the same windows.
 */
export class AutoReceiveWindow {
  private window: number;
  /** Consumed bytes not yet returned as credit. */
  private pending = 0;
  /** Bytes that arrived and the consumer has not finished with. */
  private buffered = 0;
  /** Window bytes drawn from the budget, given back by close() or closeWhenConsumed(). */
  private grown = 0;
  /** The exchange ended: no more credit, and the growth goes back once nothing is buffered. */
  private closed = false;

  constructor(
    initial: number = DEFAULT_RECEIVE_WINDOW,
    private readonly max: number = initial,
    private readonly budget: GrowthBudget | undefined = undefined,
  ) {
    this.window = Math.max(1, initial);
  }

  /** The window the sender has been granted so far (initial plus growth). */
  get size(): number {
    return this.window;
  }

  /** Records `bytes` that arrived from the sender. */
  received(bytes: number): void {
    this.buffered += bytes;
  }

  /** Records `bytes` consumed; returns how much credit to send now (0 = not yet). */
  consume(bytes: number): number {
    this.buffered = Math.max(0, this.buffered - bytes);
    if (this.closed) {
      if (this.buffered === 0) this.close();
      return 0;
    }
    this.pending += bytes;
    if (this.pending < Math.max(1, Math.floor(this.window / 4))) return 0;
    const credit = this.pending;
    this.pending = 0;
    return credit + this.grow();
  }

  /** The exchange ended and what its consumer still held was dropped: the growth goes back now. */
  close(): void {
    this.closed = true;
    this.buffered = 0;
    this.budget?.give(this.grown);
    this.grown = 0;
  }

  /**
   * The exchange ended, but its last bytes may still sit with the consumer (an HTTP response
   * buffering for a client that stopped reading, after the sender's `end`). The growth stays
   * drawn until consume() has accounted for every byte received; giving it back at `end` let each
   * stalled reader hold a grown window that no budget counted.
   */
  closeWhenConsumed(): void {
    this.closed = true;
    if (this.buffered === 0) this.close();
  }

  private grow(): number {
    if (this.window >= this.max || this.buffered > this.window / 4) return 0;
    const wanted = Math.min(this.window, this.max - this.window);
    const extra = this.budget ? this.budget.take(wanted) : wanted;
    this.window += extra;
    this.grown += extra;
    return extra;
  }
}

/** The largest window a receiver of `protocolVersion` may grow to (protocol 1: the fixed initial window). */
export function windowLimitFor(protocolVersion: number, initial: number): number {
  return protocolVersion >= 2 ? Math.max(initial, MAX_RECEIVE_WINDOW) : initial;
}
