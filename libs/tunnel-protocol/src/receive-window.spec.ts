import { describe, expect, it } from 'vitest';
import { DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW } from './protocol-constants';
import { AutoReceiveWindow, GrowthBudget, windowLimitFor } from './receive-window';
import { SendWindow } from './send-window';

const CHUNK = 64 * 1024;

/**
 * A long link, one round trip at a time: the sender spends all its credit, everything arrives,
 * the reader consumes what it can, and the credit it returned reaches the sender for the next
 * round. `read(arrived)` says how many of the bytes arrived so far the reader consumes this round.
 */
function simulate(window: AutoReceiveWindow, rounds: number, read: (buffered: number) => number) {
  const sender = new SendWindow(window.size);
  let buffered = 0;
  let sent = 0;
  const sizes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const chunks: number[] = [];
    while (sender.bytes > 0) chunks.push(sender.take(CHUNK));
    let credit = 0;
    for (const c of chunks) {
      window.received(c);
      buffered += c;
      sent += c;
      // A reader that keeps up consumes each chunk as it comes; others take what read() allows.
      const n = Math.min(buffered, read(buffered));
      for (let left = n; left > 0; left -= Math.min(left, CHUNK)) credit += window.consume(Math.min(left, CHUNK));
      buffered -= n;
    }
    sender.grant(credit);
    // Flow control holds: never more unconsumed bytes than the window granted so far.
    expect(buffered).toBeLessThanOrEqual(window.size);
    sizes.push(window.size);
  }
  return { sizes, sent, buffered };
}

describe('AutoReceiveWindow', () => {
  it('grows, round trip by round trip, for a reader that drains everything the sender sends', () => {
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW);
    const { sizes } = simulate(window, 8, (buffered) => buffered);
    expect(sizes[0]).toBeGreaterThan(DEFAULT_RECEIVE_WINDOW);
    expect(sizes.at(-1)).toBe(MAX_RECEIVE_WINDOW);
    // Never past the limit, whatever the number of rounds.
    expect(Math.max(...sizes)).toBe(MAX_RECEIVE_WINDOW);
  });

  it('does not grow for a reader that stalls: no credit goes back at all', () => {
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW);
    const { sizes, sent } = simulate(window, 5, () => 0);
    expect(sizes.every((s) => s === DEFAULT_RECEIVE_WINDOW)).toBe(true);
    expect(sent).toBe(DEFAULT_RECEIVE_WINDOW);
  });

  it('does not grow for a reader slower than the sender (its buffer stays above a quarter of the window)', () => {
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW);
    // Reads 16 KiB per arriving chunk of 64 KiB: a quarter of the sender's pace.
    const { sizes, buffered } = simulate(window, 40, () => 16 * 1024);
    expect(sizes.every((s) => s === DEFAULT_RECEIVE_WINDOW)).toBe(true);
    expect(buffered).toBeGreaterThan(DEFAULT_RECEIVE_WINDOW / 2);
  });

  it('stays fixed when no growth is allowed (protocol 1 peers)', () => {
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, windowLimitFor(1, DEFAULT_RECEIVE_WINDOW));
    const { sizes } = simulate(window, 6, (buffered) => buffered);
    expect(sizes.every((s) => s === DEFAULT_RECEIVE_WINDOW)).toBe(true);
    expect(windowLimitFor(2, DEFAULT_RECEIVE_WINDOW)).toBe(MAX_RECEIVE_WINDOW);
  });

  it('grows only as far as the shared budget allows, and gives the growth back when the exchange ends', () => {
    const parent = new GrowthBudget(1024 * 1024);
    const stream = new GrowthBudget(8 * 1024 * 1024, parent);
    const first = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, stream);
    simulate(first, 8, (buffered) => buffered);
    // The process-wide parent bounds it, not the stream's larger budget.
    expect(first.size).toBe(DEFAULT_RECEIVE_WINDOW + 1024 * 1024);
    const second = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, stream);
    simulate(second, 8, (buffered) => buffered);
    expect(second.size).toBe(DEFAULT_RECEIVE_WINDOW);
    first.close();
    expect(parent.bytes).toBe(1024 * 1024);
    const third = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, stream);
    simulate(third, 8, (buffered) => buffered);
    expect(third.size).toBe(DEFAULT_RECEIVE_WINDOW + 1024 * 1024);
  });

  it("keeps an ended exchange's growth drawn until its consumer has finished with the last bytes", () => {
    const budget = new GrowthBudget(8 * 1024 * 1024);
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, budget);
    simulate(window, 8, (buffered) => buffered);
    const drawn = 8 * 1024 * 1024 - budget.bytes;
    expect(drawn).toBeGreaterThan(0);
    // The reader stalls with the sender's last window unread, and the sender ends the exchange.
    window.received(window.size);
    window.closeWhenConsumed();
    expect(budget.bytes).toBe(8 * 1024 * 1024 - drawn);
    // It reads all but one byte: no credit (the exchange is over), the growth still drawn.
    expect(window.consume(window.size - 1)).toBe(0);
    expect(budget.bytes).toBe(8 * 1024 * 1024 - drawn);
    expect(window.consume(1)).toBe(0);
    expect(budget.bytes).toBe(8 * 1024 * 1024);
  });

  it('gives the growth back at once when the ended exchange dropped its unread bytes', () => {
    const budget = new GrowthBudget(8 * 1024 * 1024);
    const window = new AutoReceiveWindow(DEFAULT_RECEIVE_WINDOW, MAX_RECEIVE_WINDOW, budget);
    simulate(window, 8, (buffered) => buffered);
    window.received(window.size);
    window.close();
    expect(budget.bytes).toBe(8 * 1024 * 1024);
  });
});
