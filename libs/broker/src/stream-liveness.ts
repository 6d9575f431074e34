/** What StreamLiveness needs from its stream. */
export interface LivenessStream {
  /** Queues a Ping frame with this nonce. */
  sendPing(nonce: number): void;
  /** Queues a Pong frame with this nonce. */
  sendPong(nonce: number): void;
  /** Runs `produce` right before the stream's next write (FrameSender.beforeFlush). */
  beforeFlush(produce: () => void): void;
  /** Nothing came from the agent for 2.5 ping intervals: its stream is useless. */
  silent(): void;
}

/**
 * Whether an agent stream is alive: the broker's Pings every interval, the agent's silence that
 * cuts it, probes that wait for any frame, and the one Pong owed to the agent's Pings.
 */
export class StreamLiveness {
  private timer: NodeJS.Timeout | undefined;
  private lastHeard = Date.now();
  private nonce = 0;
  /** Resolved with true by the next frame from the agent (see probe). */
  private probeWaiter: ((heard: boolean) => void) | undefined;
  /** The newest nonce of the Pings not answered yet; one Pong answers them all (see owePong). */
  private owedPong = 0;
  private pongQueued = false;

  constructor(
    private readonly stream: LivenessStream,
    private readonly pingIntervalMs: number,
  ) {}

  /** A message came from the agent. */
  heard(): void {
    this.lastHeard = Date.now();
    this.probeWaiter?.(true);
  }

  /** Starts the pings (once the agent registered). */
  start(): void {
    this.timer = setInterval(() => this.ping(), this.pingIntervalMs);
    this.timer.unref();
  }

  /** The stream closed: probes answer false, the pings stop. */
  stop(): void {
    this.probeWaiter?.(false);
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Pings the agent and resolves true as soon as anything arrives from it, false when nothing
   * did within `timeoutMs` (a half-open stream) or the stream closed.
   */
  probe(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const previous = this.probeWaiter;
      const timer = setTimeout(() => settle(false), timeoutMs);
      timer.unref();
      const settle = (heard: boolean) => {
        clearTimeout(timer);
        if (this.probeWaiter === settle) this.probeWaiter = undefined;
        previous?.(heard);
        resolve(heard);
      };
      this.probeWaiter = settle;
      this.stream.sendPing(++this.nonce);
    });
  }

  /**
   * At most one Pong is owed per stream: a Ping that comes while the Pong is still queued (the
   * agent does not read, or the stream is busy) replaces its nonce, so the newest Ping is
   * answered and a peer that pings without reading grows nothing (issue 7: 3 M Pings held
   * 364 MB). The Pong is produced only when the stream is written (FrameSender.beforeFlush).
   */
  owePong(nonce: number): void {
    this.owedPong = nonce;
    if (this.pongQueued) return;
    this.pongQueued = true;
    this.stream.beforeFlush(this.sendPong);
  }

  private readonly sendPong = (): void => {
    this.pongQueued = false;
    this.stream.sendPong(this.owedPong);
  };

  /** An agent whose receive loop is stuck answers no pings; its stream is then useless. */
  private ping(): void {
    if (Date.now() - this.lastHeard > this.pingIntervalMs * 2.5) {
      this.stream.silent();
      return;
    }
    this.stream.sendPing(++this.nonce);
  }
}
