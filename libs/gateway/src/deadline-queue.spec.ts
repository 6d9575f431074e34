import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from './deadline-queue';

describe('DeadlineQueue', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => vi.useRealTimers());
  const advance = async (ms: number) => {
    now += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };

  it('fires each deadline once its duration has passed, in order, and never a cleared one', async () => {
    const q = new DeadlineQueue(() => now);
    const fired: string[] = [];
    q.set(100, () => fired.push('a'));
    await advance(30);
    const b = q.set(100, () => fired.push('b'));
    q.set(100, () => fired.push('c'));
    b.clear();
    await advance(69);
    expect(fired).toEqual([]);
    await advance(1);
    expect(fired).toEqual(['a']);
    await advance(30);
    expect(fired).toEqual(['a', 'c']);
  });

  it('starts a refreshed deadline again, and keeps firing deadlines set after the list emptied', async () => {
    const q = new DeadlineQueue(() => now);
    const fired: string[] = [];
    const a = q.set(100, () => fired.push('a'));
    await advance(90);
    a.refresh();
    await advance(90);
    expect(fired).toEqual([]);
    await advance(10);
    expect(fired).toEqual(['a']);
    // The list is empty now; one deadline set and cleared, then another that must still fire.
    q.set(50, () => fired.push('x')).clear();
    await advance(20);
    q.set(50, () => fired.push('y'));
    await advance(49);
    expect(fired).toEqual(['a']);
    await advance(1);
    expect(fired).toEqual(['a', 'y']);
  });

  it('keeps durations apart and lets a firing deadline set the next one', async () => {
    const q = new DeadlineQueue(() => now);
    const fired: string[] = [];
    q.set(1000, () => fired.push('long'));
    q.set(10, () => {
      fired.push('short');
      q.set(10, () => fired.push('again'));
    });
    await advance(10);
    expect(fired).toEqual(['short']);
    await advance(10);
    expect(fired).toEqual(['short', 'again']);
    await advance(980);
    expect(fired).toEqual(['short', 'again', 'long']);
  });
});
