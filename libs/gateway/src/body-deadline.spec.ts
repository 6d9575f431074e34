import { describe, expect, it } from 'vitest';
import { BodyDeadline } from './body-deadline';
import { FakeClock } from './fake-clock';

function watch(clock: FakeClock, options: Partial<{ idleTimeoutMs: number; minBytesPerSecond: number; rateWindowMs: number }> = {}) {
  const deadline = new BodyDeadline({ idleTimeoutMs: 30_000, minBytesPerSecond: 1024, rateWindowMs: 30_000, clock, ...options });
  const fired: string[] = [];
  deadline.onExpire((e) => fired.push(`${e.kind}: ${e.message}`));
  return { deadline, fired };
}

describe('BodyDeadline', () => {
  it('expires when no byte arrives for the idle timeout, naming the setting', () => {
    const clock = new FakeClock();
    const { fired } = watch(clock, { idleTimeoutMs: 30_000, minBytesPerSecond: 0 });
    clock.advance(29_999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatch(/^request_timeout: no request body byte arrived for 30000 ms \(ST_BODY_IDLE_TIMEOUT_MS\)/);
  });

  it('counts silence from the last byte, not from the start', () => {
    const clock = new FakeClock();
    const { deadline, fired } = watch(clock, { idleTimeoutMs: 1000, minBytesPerSecond: 0 });
    for (let i = 0; i < 50; i++) {
      clock.advance(900);
      deadline.bytes(10);
    }
    expect(fired).toEqual([]);
    clock.advance(1000);
    expect(fired).toHaveLength(1);
  });

  it('expires a body that trickles under the minimum rate over a window, though bytes keep coming', () => {
    const clock = new FakeClock();
    const { deadline, fired } = watch(clock, { idleTimeoutMs: 30_000, minBytesPerSecond: 1024, rateWindowMs: 30_000 });
    // One byte every 10 s: never idle for 30 s, far under 1 KiB/s.
    for (let t = 0; t < 30_000; t += 10_000) {
      clock.advance(10_000);
      deadline.bytes(1);
    }
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatch(/^request_timeout: the request body arrived at 0 bytes\/s over 30 s, under the minimum of 1024 bytes\/s \(ST_BODY_MIN_RATE\)/);
  });

  it('lets a body just over the minimum rate run for many windows', () => {
    const clock = new FakeClock();
    const { deadline, fired } = watch(clock, { minBytesPerSecond: 1024, rateWindowMs: 30_000 });
    for (let s = 0; s < 600; s++) {
      clock.advance(1000);
      deadline.bytes(1100);
    }
    expect(fired).toEqual([]);
    // Then it slows to half the rate: the next full window catches it.
    for (let s = 0; s < 60; s++) {
      clock.advance(1000);
      deadline.bytes(512);
    }
    expect(fired).toHaveLength(1);
  });

  it('does not count time while the gateway itself is not reading (no credit from the agent)', () => {
    const clock = new FakeClock();
    const { deadline, fired } = watch(clock, { idleTimeoutMs: 1000, minBytesPerSecond: 100, rateWindowMs: 2000 });
    deadline.bytes(150);
    clock.advance(500);
    deadline.pause();
    clock.advance(60_000);
    expect(fired).toEqual([]);
    deadline.resume();
    deadline.bytes(150);
    clock.advance(999);
    expect(fired).toEqual([]);
    clock.advance(1);
    // The window (2 s of counted time) is not over yet; the silence since the last byte is.
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatch(/ST_BODY_IDLE_TIMEOUT_MS/);
  });

  it('expires at most once and not at all once stopped; stop leaves no timer behind', () => {
    const clock = new FakeClock();
    const a = watch(clock, { idleTimeoutMs: 100, minBytesPerSecond: 0 });
    clock.advance(10_000);
    expect(a.fired).toHaveLength(1);
    expect(a.deadline.expired?.kind).toBe('request_timeout');

    const b = watch(clock, { idleTimeoutMs: 100 });
    b.deadline.bytes(5);
    b.deadline.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(b.fired).toEqual([]);
  });

  it('tells a listener that arrives late', () => {
    const clock = new FakeClock();
    const deadline = new BodyDeadline({ idleTimeoutMs: 10, minBytesPerSecond: 0, rateWindowMs: 1000, clock });
    clock.advance(10);
    const seen: string[] = [];
    deadline.onExpire((e) => seen.push(e.kind));
    expect(seen).toEqual(['request_timeout']);
  });
});
