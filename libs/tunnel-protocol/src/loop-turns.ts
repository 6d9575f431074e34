/**
 * Tells a stream that writes in every turn of the event loop (under load: many exchanges, or one
 * long answer) from one that writes now and then (an idle tunnel serving one request at a time),
 * without a timer: FrameSender writes the latter's frames at once and batches the former's.
 *
 * Turns are counted by an immediate that re-arms itself only while some stream wrote in the turn
 * before, so an idle process pays one extra (non-blocking) loop iteration after its last write
 * and nothing after that.
 */
let turn = 0;
let lastWriteTurn = -1;
let counting = false;

function countTurn(): void {
  turn++;
  if (lastWriteTurn >= turn - 1) setImmediate(countTurn);
  else counting = false;
}

/** Records a write in this turn; returns the turn, for {@link wroteRecently}. */
export function noteWrite(): number {
  lastWriteTurn = turn;
  if (!counting) {
    counting = true;
    setImmediate(countTurn);
  }
  return turn;
}

/** True when `writeTurn` (from noteWrite) is this turn or the one before. */
export function wroteRecently(writeTurn: number): boolean {
  return counting && writeTurn >= turn - 1;
}
