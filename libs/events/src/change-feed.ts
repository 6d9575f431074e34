/**
 * What changed, named by the ids a consumer needs to look things up again. Events carry no state:
 * consumers read the current state from the store and presence, so an event can never be stale
 * and two events can never disagree. Plain JSON, so Redis pub/sub carries it between processes
 * (RedisChangeFeed in libs/live-state).
 */
export type ControlEvent =
  | {
      kind: 'tunnel';
      userId: string;
      tunnelId: string;
      /**
       * created, updated (settings/state), deleted, agent (connected or gone), health (new report),
       * token_rotated (the agent token was replaced: streams holding the old one must go)
       */
      reason: 'created' | 'updated' | 'deleted' | 'agent' | 'health' | 'token_rotated';
    }
  | { kind: 'session'; userId: string; sessionId: string; reason: 'started' | 'stopped' }
  /** A user's API keys were revoked (or the user changed): cached authentications must go. */
  | { kind: 'user'; userId: string; reason: 'keys_revoked' };

export type ControlEventListener = (event: ControlEvent) => void;

/**
 * The one path for changes inside the control plane: management writes, agent connections and
 * health reports are published here, and WatchProviders, revocation and caches subscribe.
 * Delivery is synchronous and in publish order, so a watcher sees changes in the order they
 * happened; a listener that throws is logged by the caller's wrapper, never breaks the others.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ControlEventListener>();

  publish(event: ControlEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError?.(err, event);
      }
    }
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: ControlEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Set by the host to log failing listeners. */
  onListenerError: ((err: unknown, event: ControlEvent) => void) | undefined;

  get size(): number {
    return this.listeners.size;
  }
}
