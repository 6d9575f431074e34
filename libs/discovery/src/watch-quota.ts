/** A user already has as many open watches as ST_MAX_WATCHES_PER_USER allows. */
export class WatchLimitError extends Error {
  override readonly name = 'WatchLimitError';
  constructor(readonly max: number) {
    super(`you have ${max} WatchProviders streams open (ST_MAX_WATCHES_PER_USER): close one (one watch per client is enough) before watching again`);
  }
}

/**
 * Open WatchProviders streams per user, over gRPC and Connect together: each holds a change-feed
 * subscription and recomputes on every change, so one key must not open thousands. Users with
 * no open watch take no memory.
 */
export class WatchQuota {
  private readonly open = new Map<string, number>();
  private total = 0;

  /** `max` watches per user; 0 = no limit. */
  constructor(private readonly max: number) {}

  /** Takes a place for a new watch and returns its release (idempotent); throws WatchLimitError when full. */
  acquire(userId: string): () => void {
    const n = this.open.get(userId) ?? 0;
    if (this.max > 0 && n >= this.max) throw new WatchLimitError(this.max);
    this.open.set(userId, n + 1);
    this.total++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.total--;
      const left = (this.open.get(userId) ?? 1) - 1;
      if (left <= 0) this.open.delete(userId);
      else this.open.set(userId, left);
    };
  }

  /** Open watches of a user now. */
  openOf(userId: string): number {
    return this.open.get(userId) ?? 0;
  }

  /** Open watches of every user (the st_discovery_watches gauge). */
  get watches(): number {
    return this.total;
  }

  /** Users with at least one open watch. */
  get users(): number {
    return this.open.size;
  }
}
