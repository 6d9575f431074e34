import { describe, expect, it } from 'vitest';
import { ReceiveWindow, SendWindow } from './send-window';

describe('SendWindow', () => {
  it('never hands out more credit than granted', () => {
    const w = new SendWindow(100);
    expect(w.take(60)).toBe(60);
    expect(w.take(60)).toBe(40);
    expect(w.take(1)).toBe(0);
    w.grant(10);
    expect(w.take(60)).toBe(10);
  });

  it('wakes a waiting writer when credit comes back', async () => {
    const w = new SendWindow(0);
    let woke = false;
    const p = w.whenOpen().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    w.grant(5);
    await p;
    expect(woke).toBe(true);
  });
});

describe('ReceiveWindow', () => {
  it('returns credit in quarters of the window, not per chunk', () => {
    const r = new ReceiveWindow(1000);
    expect(r.consume(100)).toBe(0);
    expect(r.consume(100)).toBe(0);
    expect(r.consume(100)).toBe(300);
    expect(r.consume(249)).toBe(0);
    expect(r.consume(1)).toBe(250);
  });
});
