import type { Exchange } from '@st/broker';

interface Chunk {
  chunk: Uint8Array;
  end: boolean;
  /** Resolves the caller's write once the chunk went out (the first time). */
  settle?: () => void;
}

/**
 * The request body written after the head, passed on to the current attempt in order and kept
 * while a retry may still need to send it again. What is kept is bounded by `limitBytes`
 * (ST_MAX_BODY, which the gateway enforces before writing anyway): past it nothing is kept and
 * the exchange can no longer be retried.
 *
 * The caller's write resolves once its chunk was written to an attempt (flow control included),
 * so an upload waits for the agent's credit exactly as without routing.
 */
export class BodyReplay {
  private readonly chunks: Chunk[] = [];
  /** The next chunk to write to `target`; 0 again after a switch (the replay). */
  private next = 0;
  private target: Exchange | undefined;
  private pumping = false;
  /** Bumped by each switch: a loop still waiting on the previous attempt stops. */
  private generation = 0;
  private keptBytes: number;
  private keeping = true;
  private closed = false;

  /** `headBytes`: the body bytes that travel in the head, which a retry sends again too. */
  constructor(
    private readonly limitBytes: number,
    headBytes: number,
  ) {
    this.keptBytes = headBytes;
    if (this.keptBytes > limitBytes) this.keeping = false;
  }

  /** True while every body byte written so far is still held, so a retry can send the whole body. */
  get replayable(): boolean {
    return this.keeping && !this.closed;
  }

  write(chunk: Uint8Array, end: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.keeping) {
      this.keptBytes += chunk.length;
      if (this.keptBytes > this.limitBytes) this.keeping = false;
    }
    return new Promise((resolve) => {
      this.chunks.push({ chunk, end, settle: resolve });
      void this.pump();
    });
  }

  /**
   * Sends what is held from its start, then whatever follows, to `exchange` (a new attempt). A
   * write still waiting on the failed attempt is abandoned: its chunk goes out again here.
   */
  switchTo(exchange: Exchange): void {
    if (this.closed) return;
    this.target = exchange;
    this.next = 0;
    this.generation++;
    this.pumping = false;
    void this.pump();
  }

  /** The answer has begun: no retry can come, so what was sent need not be kept. */
  stopKeeping(): void {
    this.keeping = false;
    this.dropSent();
  }

  /** The exchange is over: pending writes resolve (as on a closed exchange) and nothing is kept. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.chunks) c.settle?.();
    this.chunks.length = 0;
    this.next = 0;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const generation = this.generation;
    try {
      while (!this.closed && this.target && this.next < this.chunks.length) {
        const target = this.target;
        const item = this.chunks[this.next++];
        await target.write(item.chunk, item.end);
        // A switch meanwhile started another loop, which writes this chunk again.
        if (generation !== this.generation) return;
        item.settle?.();
        item.settle = undefined;
        if (!this.keeping) this.dropSent();
      }
    } finally {
      if (generation === this.generation) this.pumping = false;
    }
  }

  private dropSent(): void {
    if (this.next === 0) return;
    this.chunks.splice(0, this.next);
    this.next = 0;
  }
}
