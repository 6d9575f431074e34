/** Counters tests read to prove what reached the model server (notably that a cancel did). */
export interface MockStats {
  /** HTTP requests to `/v1/*` endpoints, whatever their outcome. */
  requests: number;
  /** Generations (chat or text completions) that wrote their whole answer. */
  completed: number;
  /** Generations stopped because the client went away before the answer was finished. */
  aborted: number;
  /** Generations in flight now. */
  active: number;
}

/**
 * Mutable counters behind {@link MockStats}. A generation ends exactly once, through
 * `complete`, `abort` or `fail`, so `active` never drifts.
 */
export class StatsCounter {
  requests = 0;
  completed = 0;
  aborted = 0;
  active = 0;

  begin(): void {
    this.active += 1;
  }

  complete(): void {
    this.active -= 1;
    this.completed += 1;
  }

  abort(): void {
    this.active -= 1;
    this.aborted += 1;
  }

  /** An injected crash: neither finished nor cancelled by the client. */
  fail(): void {
    this.active -= 1;
  }

  /** Keeps `active`: in-flight generations still end later and must not drive it negative. */
  reset(): void {
    this.requests = 0;
    this.completed = 0;
    this.aborted = 0;
  }

  snapshot(): MockStats {
    return { requests: this.requests, completed: this.completed, aborted: this.aborted, active: this.active };
  }
}
