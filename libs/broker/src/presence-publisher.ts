import type { Logger } from '@st/logging';
import type { PresenceEntry, PresencePatch } from '@st/live-state';
import type { AgentSession } from './agent-session';
import type { BrokerIdentity, StreamDirectory } from './stream-directory';

/**
 * How often a stream's open-exchange count is re-published when it changed. Gateways rank streams
 * by it (plus their own count): one published only at put, drain and health changes went stale,
 * and a stale high count on one stream sent every gateway's answers to the other.
 */
export const LOAD_PUBLISH_INTERVAL_MS = 1_000;

/**
 * Writes the broker's streams to the stream directory, in order per stream (a put, its updates,
 * then its removal), none before the broker is advertised (its previous run's entries are cleared
 * first). Failures are logged and swallowed: a directory that is down must never break a stream.
 * Without a directory every method returns undefined, so the broker's callers act synchronously
 * as in one process.
 */
export class PresencePublisher {
  private identity: BrokerIdentity | undefined;
  private openGate!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.openGate = resolve));
  private readonly chains = new Map<AgentSession, Promise<void>>();
  /** The load each stream's entry last said (put or update). */
  private readonly publishedLoad = new WeakMap<AgentSession, number>();
  private loadTimer: NodeJS.Timeout | undefined;
  private failing = false;

  /** `sessions` lists the streams this broker holds, for the periodic load refresh. */
  constructor(
    private readonly directory: StreamDirectory | undefined,
    private readonly logger: Logger,
    private readonly sessions: () => Iterable<AgentSession> = () => [],
  ) {}

  /** Brokers live at the last heartbeat (1 without a directory: this one). */
  get liveBrokers(): number {
    return this.directory?.liveBrokerCount ?? 1;
  }

  /**
   * Clears what a previous run of this broker id left, announces the broker, then lets the
   * streams' writes through. A directory that is down is logged; the writes then go ahead (and
   * fail, and are re-written by the refresh once it is back).
   */
  async advertise(identity: BrokerIdentity): Promise<void> {
    this.identity = identity;
    const directory = this.directory;
    if (!directory) return;
    try {
      const cleared = await directory.clearBroker(identity.brokerId);
      if (cleared > 0) this.logger.info({ brokerId: identity.brokerId, cleared }, 'presence: cleared the streams a previous run of this broker left');
      await directory.announceBroker(identity.brokerId, identity.advertiseAddress);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, brokerId: identity.brokerId }, 'presence: could not advertise this broker; its streams are written once Redis answers');
    } finally {
      this.openGate();
    }
    this.loadTimer = setInterval(() => this.publishLoads(), LOAD_PUBLISH_INTERVAL_MS);
    this.loadTimer.unref();
  }

  /** Re-publishes the load of every held stream whose count changed since its entry was written. */
  publishLoads(): void {
    for (const session of this.sessions()) {
      const published = this.publishedLoad.get(session);
      if (published !== undefined && published !== session.load) void this.update(session, { load: session.load });
    }
  }

  put(session: AgentSession): Promise<void> | undefined {
    if (this.directory) this.publishedLoad.set(session, session.load);
    return this.enqueue(session, 'put', (d, id) => d.put(entryOf(session, id)));
  }

  update(session: AgentSession, patch: PresencePatch): Promise<void> | undefined {
    if (this.directory && patch.load !== undefined && this.publishedLoad.has(session)) this.publishedLoad.set(session, patch.load);
    return this.enqueue(session, 'update', (d, id) => d.update(id.brokerId, session.tunnel.id, session.connectionId, patch));
  }

  remove(session: AgentSession): Promise<void> | undefined {
    this.publishedLoad.delete(session);
    const done = this.enqueue(session, 'remove', (d, id) => d.remove(id.brokerId, session.tunnel.id, session.connectionId));
    void done?.then(() => {
      if (this.chains.get(session) === done) this.chains.delete(session);
    });
    return done;
  }

  /** Stops counting this broker among the live ones, so agents are not told it is there to dial. */
  async withdraw(): Promise<void> {
    clearInterval(this.loadTimer);
    if (!this.directory || !this.identity) return;
    await this.directory.withdrawBroker(this.identity.brokerId).catch((err: Error) => this.failed('withdraw', err));
  }

  /** After shutdown: waits for the pending writes, then removes whatever this broker still lists. */
  async clear(): Promise<void> {
    clearInterval(this.loadTimer);
    if (!this.directory || !this.identity) return;
    await Promise.all(this.chains.values());
    await this.directory.clearBroker(this.identity.brokerId).catch((err: Error) => this.failed('clear', err));
  }

  private enqueue(
    session: AgentSession,
    operation: string,
    write: (directory: StreamDirectory, identity: BrokerIdentity) => Promise<unknown>,
  ): Promise<void> | undefined {
    const directory = this.directory;
    if (!directory) return undefined;
    const previous = this.chains.get(session) ?? this.gate;
    const next = previous.then(async () => {
      try {
        await write(directory, this.identity!);
        if (this.failing) this.logger.info('presence: writes succeed again');
        this.failing = false;
      } catch (err) {
        this.failed(operation, err as Error, session);
      }
    });
    this.chains.set(session, next);
    // The chain only orders writes still pending: a settled one is forgotten, so a stream that is
    // never removed (it closed before it was routable) holds nothing here.
    void next.then(() => {
      if (this.chains.get(session) === next) this.chains.delete(session);
    });
    return next;
  }

  /** Logged once per outage at warn (thousands of streams would otherwise log thousands of lines). */
  private failed(operation: string, err: Error, session?: AgentSession): void {
    const fields = { err: err.message, operation, tunnelId: session?.tunnel.id, connectionId: session?.connectionId };
    if (this.failing) {
      this.logger.debug(fields, 'presence write failed');
      return;
    }
    this.failing = true;
    this.logger.warn(fields, 'presence write failed (Redis unreachable?): the stream keeps serving; presence is re-written once Redis answers');
  }
}

function entryOf(session: AgentSession, identity: BrokerIdentity): PresenceEntry {
  return {
    tunnelId: session.tunnel.id,
    brokerId: identity.brokerId,
    advertiseAddress: identity.advertiseAddress,
    streamId: session.connectionId,
    agentInstanceId: session.agentInstanceId,
    connectionEpoch: session.connectionEpoch,
    since: session.since,
    load: session.load,
    draining: session.isDraining,
    health: session.health,
  };
}
