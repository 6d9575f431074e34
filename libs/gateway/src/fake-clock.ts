import type { DeadlineClock } from './body-deadline';

/** A clock for specs: time moves only when `advance` says, firing due timers in order. */
export class FakeClock implements DeadlineClock {
  private time = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.time + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => (timer.live = false) };
  }

  /** Moves time on by `ms`, firing every timer that falls due, at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.timers = this.timers.filter((t) => t.live);
    this.time = end;
  }

  /** Timers still waiting to fire. */
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
}
