import type { TunnelError } from '@st/tunnel-protocol';
import type { BodyDeadline } from './body-deadline';

/** What reading a body whole needs of its deadline (see readBody). */
export interface BodyWatch {
  onExpire(listener: (error: TunnelError) => void): void;
  bytes(n: number): void;
  stop(): void;
}

/**
 * A body deadline that starts only if the body is still missing once this turn of the event loop
 * is over (issue 9). A small request body nearly always comes in the head's packet, but Node
 * parses it only after the head's callback, and its microtasks, have run: the gateway then finds
 * the body not complete yet and used to start a BodyDeadline (a timer, two clock reads) for a body
 * that arrived a moment later in the same I/O callback. Now it starts from an immediate, which
 * the end of such a body clears before the loop gets to it; a body that really is on its way (or
 * stalled) gets its deadline a turn later, which a 30 s deadline does not notice.
 */
export class DeferredBodyDeadline implements BodyWatch {
  private deadline: BodyDeadline | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private listener: ((error: TunnelError) => void) | undefined;
  private early = 0;

  constructor(start: () => BodyDeadline) {
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      const deadline = start();
      this.deadline = deadline;
      if (this.early > 0) deadline.bytes(this.early);
      if (this.listener) deadline.onExpire(this.listener);
    });
  }

  onExpire(listener: (error: TunnelError) => void): void {
    this.listener = listener;
    this.deadline?.onExpire(listener);
  }

  bytes(n: number): void {
    if (this.deadline) this.deadline.bytes(n);
    else this.early += n;
  }

  stop(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.deadline?.stop();
  }
}
