import type { PresenceEntry, PresencePatch } from '@st/live-state';

/**
 * Where a broker advertises the agent streams it holds, for gateways and discovery in other
 * processes (shared presence: `RedisPresence` satisfies it). The broker depends on this shape
 * only, not on Redis. Every call may reject while the directory is unreachable; the broker logs
 * it and keeps serving (the directory re-writes its own record on its next lease refresh).
 */
export interface StreamDirectory {
  put(entry: PresenceEntry): Promise<void>;
  update(brokerId: string, tunnelId: string, streamId: string, patch: PresencePatch): Promise<boolean>;
  remove(brokerId: string, tunnelId: string, streamId: string): Promise<void>;
  /** Removes what a previous run of `brokerId` left. */
  clearBroker(brokerId: string): Promise<number>;
  /** Counts the broker among the live ones (kept alive by the directory's lease refresh). */
  announceBroker(brokerId: string, advertiseAddress: string): Promise<number>;
  withdrawBroker(brokerId: string): Promise<void>;
  /** Brokers live at the last heartbeat, this one included (no round trip). */
  readonly liveBrokerCount: number;
}

/** Who this broker is to the other services: its id (in Welcome and presence) and where they reach it. */
export interface BrokerIdentity {
  brokerId: string;
  /** host:port at which gateways reach this broker's RelayService. */
  advertiseAddress: string;
}
