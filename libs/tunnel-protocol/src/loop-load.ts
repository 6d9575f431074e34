import { performance } from 'node:perf_hooks';

/**
 * Tells a stream under load (it writes in turn after turn of the event loop: many exchanges, or
 * one fast answer) from one that writes now and then (one request at a time, or tokens 50 ms
 * apart), without a timer: FrameSender writes the latter's frames at once and batches the
 * former's per turn (issue 9).
 *
 * A write is "recent" when it was in this turn or the one before, and the loop has not waited
 * for I/O for {@link IDLE_MS} or more since. Turns are counted by an immediate that runs in the
 * loop's check phase and re-arms itself only while some stream wrote in the turn before; it is
 * unref'd, so it never makes the loop poll without waiting (nor keeps a process alive): an idle
 * process pays no extra loop iteration, and the count advances when the loop comes round anyway,
 * which is why a long wait (libuv's idle time, ~60 ns to read) also makes a write old.
 *
 * Measured: "the loop waited at all since the last write" alone is not enough: under load on a
 * busy machine the loop waits briefly between most turns, and writing at once then sent two gRPC
 * messages per turn instead of one (+40 µs of st-server CPU per request at c=64).
 */
export const IDLE_MS = 1;

let turn = 0;
let lastWriteTurn = -1;
let counting = false;

function countTurn(): void {
  turn++;
  if (lastWriteTurn >= turn - 1) setImmediate(countTurn).unref();
  else counting = false;
}

/** Milliseconds the event loop has spent waiting for I/O so far. */
export function loopIdleTime(): number {
  return performance.nodeTiming.idleTime;
}

/** Records a write in this turn; returns the turn, for {@link wroteRecently}. */
export function noteWrite(): number {
  lastWriteTurn = turn;
  if (!counting) {
    counting = true;
    setImmediate(countTurn).unref();
  }
  return turn;
}

/** True when a write in `writeTurn` (from noteWrite), at loop idle time `idleAtWrite`, is recent. */
export function wroteRecently(writeTurn: number, idleAtWrite: number, idleNow: number): boolean {
  return counting && writeTurn >= turn - 1 && idleNow - idleAtWrite < IDLE_MS;
}
