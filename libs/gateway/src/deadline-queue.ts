/**
 * Deadlines of one duration kept in one list, served by one Node timer (issue 9). Every answer
 * has a first-byte deadline and then an idle one; a Node timer of its own cost each exchange a
 * Timeout object, an insert into the timer lists and an unenroll on clear (about 4 % of the
 * gateway's busy time at c=1). Deadlines of one duration expire in the order they were set, so
 * a list with an append at the tail and an unlink anywhere keeps them sorted at O(1) each; the
 * timer is armed for the head only, and left armed when the list empties (the next deadline,
 * later than the armed one, needs no new timer: the armed one finds it not due and re-arms).
 */
export class DeadlineQueue {
  private readonly lists = new Map<number, DeadlineList>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Calls `fire` once `ms` have passed, unless the deadline is cleared or refreshed first. */
  set(ms: number, fire: () => void): Deadline {
    let list = this.lists.get(ms);
    if (!list) {
      list = new DeadlineList(ms, this.now);
      this.lists.set(ms, list);
    }
    const deadline = new Deadline(list, fire);
    list.append(deadline);
    return deadline;
  }
}

/** One pending deadline: clear() drops it, refresh() starts its duration again. */
export class Deadline {
  expiresAt = 0;
  prev: Deadline | undefined;
  next: Deadline | undefined;
  queued = false;

  constructor(
    private readonly list: DeadlineList,
    readonly fire: () => void,
  ) {}

  clear(): void {
    if (this.queued) this.list.unlink(this);
  }

  refresh(): void {
    if (this.queued) this.list.unlink(this);
    this.list.append(this);
  }
}

class DeadlineList {
  private head: Deadline | undefined;
  private tail: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** While expired deadlines fire (they may set new ones): the timer is armed once, after. */
  private expiring = false;

  constructor(
    private readonly ms: number,
    private readonly now: () => number,
  ) {}

  append(d: Deadline): void {
    d.expiresAt = this.now() + this.ms;
    d.queued = true;
    d.prev = this.tail;
    d.next = undefined;
    if (this.tail) this.tail.next = d;
    else this.head = d;
    this.tail = d;
    if (!this.timer && !this.expiring) this.arm(this.ms);
  }

  unlink(d: Deadline): void {
    if (d.prev) d.prev.next = d.next;
    else this.head = d.next;
    if (d.next) d.next.prev = d.prev;
    else this.tail = d.prev;
    d.prev = d.next = undefined;
    d.queued = false;
  }

  private arm(ms: number): void {
    // Unref'd: what a deadline guards is an open socket, which keeps the process alive itself.
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = this.now();
    this.expiring = true;
    try {
      while (this.head && this.head.expiresAt <= now) {
        const due = this.head;
        this.unlink(due);
        due.fire();
      }
    } finally {
      this.expiring = false;
      if (this.head) this.arm(this.head.expiresAt - now);
    }
  };
}
