import { describe, expect, it } from 'vitest';
import { FrameSender, MAX_FRAMES_PER_BATCH, type FrameTransport } from './frame-sender';
import { IDLE_MS } from './loop-load';

const tick = () => new Promise((r) => setImmediate(r));
/** Resolves before the event loop turns (after the sender's own nextTick flush). */
const nextTick = () => new Promise((r) => process.nextTick(r));

class FakeTransport implements FrameTransport<number> {
  batches: number[][] = [];
  accept = true;
  /** When false, written callbacks are held (the socket does not take the bytes). */
  passOn = true;
  held: (() => void)[] = [];
  private drainListeners: (() => void)[] = [];
  writeBatch(frames: number[], written: () => void): boolean {
    this.batches.push(frames);
    if (this.passOn) written();
    else this.held.push(written);
    return this.accept;
  }
  release(): void {
    const held = this.held;
    this.held = [];
    held.forEach((w) => w());
  }
  onceDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }
  drain(): void {
    this.accept = true;
    const ls = this.drainListeners;
    this.drainListeners = [];
    ls.forEach((l) => l());
  }
}

describe('FrameSender', () => {
  it('sends the frames of one synchronous burst as one batch, in order', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    s.send(1);
    s.send(2);
    s.send(3);
    expect(t.batches).toEqual([]);
    await tick();
    expect(t.batches).toEqual([[1, 2, 3]]);
    s.send(4);
    await tick();
    expect(t.batches).toEqual([[1, 2, 3], [4]]);
  });

  it('writes an idle stream’s frames before the event loop turns (no wait on the hot path)', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    s.send(1);
    s.send(2);
    await nextTick();
    expect(t.batches).toEqual([[1, 2]]);
    // Quiet for a few turns: idle again.
    for (let i = 0; i < 3; i++) await tick();
    s.send(3);
    await nextTick();
    expect(t.batches).toEqual([[1, 2], [3]]);
  });

  it('batches what a turn produces on a stream that writes turn after turn', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1, { idleTime: () => 0 });
    s.send(1);
    await tick();
    // The next turn: the stream wrote in the one before, so separate bursts of this turn ride together.
    s.send(2);
    await nextTick();
    s.send(3);
    await Promise.resolve();
    s.send(4);
    expect(t.batches).toEqual([[1]]);
    await tick();
    expect(t.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('writes at once in the next turn when the process waited for I/O since (a slow model’s tokens)', async () => {
    const t = new FakeTransport();
    let idle = 0;
    const s = new FrameSender(t, () => 1, { idleTime: () => idle });
    s.send(1);
    await tick();
    idle += IDLE_MS; // e.g. 50 ms between two tokens
    s.send(2);
    await nextTick();
    expect(t.batches).toEqual([[1], [2]]);
  });

  it('cuts batches at the frame limit and the byte limit', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    for (let i = 0; i < MAX_FRAMES_PER_BATCH + 5; i++) s.send(i);
    await tick();
    expect(t.batches.map((b) => b.length)).toEqual([MAX_FRAMES_PER_BATCH, 5]);

    const big = new FakeTransport();
    const sb = new FrameSender(big, () => 100 * 1024);
    for (let i = 0; i < 5; i++) sb.send(i);
    await tick();
    expect(big.batches.map((b) => b.length)).toEqual([2, 2, 1]);
  });

  it('waits for drain after back-pressure and keeps the order', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    t.accept = false;
    s.send(1);
    await tick();
    s.send(2);
    s.send(3);
    await tick();
    expect(t.batches).toEqual([[1]]);
    expect(s.pending).toBe(2);
    t.drain();
    expect(t.batches).toEqual([[1], [2, 3]]);
  });

  it('drops everything after close', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    s.send(1);
    s.close();
    s.send(2);
    await tick();
    expect(t.batches).toEqual([]);
  });
});

describe('FrameSender producers', () => {
  it('lets producers add their frames right before the batch is written', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    const produced: number[] = [];
    s.beforeFlush(() => {
      produced.push(1);
      s.send(10);
    });
    s.send(1);
    await tick();
    expect(produced).toEqual([1]);
    expect(t.batches).toEqual([[1, 10]]);
  });

  it('runs a blocked stream’s producers only once it drains', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    t.accept = false;
    s.send(1);
    await tick();
    s.beforeFlush(() => s.send(2));
    await tick();
    expect(t.batches).toEqual([[1]]);
    t.drain();
    expect(t.batches).toEqual([[1], [2]]);
  });
});

describe('FrameSender bounds', () => {
  it('sends control frames ahead of queued data, data in order', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1, { isControl: (f) => f >= 100 });
    s.send(1);
    s.send(2);
    s.send(100);
    s.send(3);
    s.send(101);
    await tick();
    expect(t.batches).toEqual([[100, 101, 1, 2, 3]]);
  });

  it('lets control frames overtake data that waits for drain', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1, { isControl: (f) => f >= 100 });
    t.accept = false;
    s.send(1);
    await tick();
    s.send(2);
    s.send(3);
    s.send(100);
    t.drain();
    expect(t.batches).toEqual([[1], [100, 2, 3]]);
  });

  it('stops writing while written bytes are not passed on, and says it is not writable', async () => {
    const t = new FakeTransport();
    t.passOn = false;
    const s = new FrameSender(t, () => 600 * 1024, { maxInFlightBytes: 1024 * 1024 });
    s.send(1);
    s.send(2);
    await tick();
    expect(t.batches.flat()).toEqual([1, 2]);
    expect(s.writable).toBe(false);
    let woke = false;
    void s.whenWritable().then(() => (woke = true));
    s.send(3);
    await tick();
    expect(t.batches.flat()).toEqual([1, 2]);
    expect(s.pending).toBe(1);
    expect(s.inFlightBytes).toBe(1200 * 1024);
    t.release();
    await tick();
    expect(woke).toBe(true);
    expect(t.batches.flat()).toEqual([1, 2, 3]);
  });

  it('reports once when queued plus in-flight bytes pass the limit', async () => {
    const t = new FakeTransport();
    t.passOn = false;
    const overflows: number[] = [];
    const s = new FrameSender(t, () => 100, { queueLimitBytes: 250, maxInFlightBytes: 150, onOverflow: (held) => overflows.push(held) });
    s.send(1);
    s.send(2);
    await tick();
    expect(overflows).toEqual([]);
    s.send(3);
    s.send(4);
    await tick();
    expect(overflows).toEqual([300]);
  });

  it('drops the queued frames a predicate matches', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1, { isControl: (f) => f >= 100 });
    t.accept = false;
    s.send(0);
    await tick();
    for (const f of [1, 2, 3, 100, 102]) s.send(f);
    expect(s.dropQueued((f) => f % 2 === 0)).toEqual([2, 100, 102]);
    expect(s.pendingBytes).toBe(2);
    t.drain();
    expect(t.batches).toEqual([[0], [1, 3]]);
  });
});
