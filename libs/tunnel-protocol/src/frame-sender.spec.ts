import { describe, expect, it } from 'vitest';
import { FrameSender, MAX_FRAMES_PER_BATCH, type FrameTransport } from './frame-sender';

const tick = () => new Promise((r) => setImmediate(r));

class FakeTransport implements FrameTransport<number> {
  batches: number[][] = [];
  accept = true;
  private drainListeners: (() => void)[] = [];
  writeBatch(frames: number[]): boolean {
    this.batches.push(frames);
    return this.accept;
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
  it('sends the frames of one event-loop turn as one batch, in order', async () => {
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

  it('cuts batches at the frame limit and the byte limit', async () => {
    const t = new FakeTransport();
    const s = new FrameSender(t, () => 1);
    for (let i = 0; i < MAX_FRAMES_PER_BATCH + 5; i++) s.send(i);
    await tick();
    expect(t.batches.map((b) => b.length)).toEqual([MAX_FRAMES_PER_BATCH, 5]);

    const big = new FakeTransport();
    const sb = new FrameSender(big, () => 400 * 1024);
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
