/** A stream's health as its agent last reported it (the broker's TunnelHealth, as stored). */
export interface PresenceHealth {
  healthy: boolean;
  models: string[];
  error: string;
  checkedAt: Date;
}

/** One live agent stream of a tunnel, as the broker holding it advertises it. */
export interface PresenceEntry {
  tunnelId: string;
  /** The broker process that holds the stream. */
  brokerId: string;
  /** Where other services reach that broker (ST_ADVERTISE_ADDRESS, host:port). */
  advertiseAddress: string;
  /** The stream's id, unique within its broker. */
  streamId: string;
  /** The agent process's instance id, so a replaced stream can be recognised. */
  agentInstanceId: string;
  /** Grows with each stream the agent instance opens; the highest is the newest. */
  connectionEpoch: number;
  /** When the broker admitted the stream. */
  since: Date;
  /** Open exchanges on the stream when the entry was last written (refreshed with the lease). */
  load?: number;
  /** The broker routes nothing new to a draining stream. */
  draining: boolean;
  /** Undefined until the agent's first health report. */
  health?: PresenceHealth;
}

/** What `update` may change: everything but the stream's identity. */
export type PresencePatch = Partial<Pick<PresenceEntry, 'advertiseAddress' | 'draining' | 'health' | 'load'>>;

interface StoredEntry extends Omit<PresenceEntry, 'health' | 'since'> {
  since: string;
  health?: Omit<PresenceHealth, 'checkedAt'> & { checkedAt: string };
}

export function encodeEntry(entry: PresenceEntry): string {
  const stored: StoredEntry = { ...entry, since: entry.since.toISOString(), health: entry.health && { ...entry.health, checkedAt: entry.health.checkedAt.toISOString() } };
  return JSON.stringify(stored);
}

/** Undefined for a value that is not an entry (written by another version, or damaged). */
export function decodeEntry(text: string): PresenceEntry | undefined {
  let stored: StoredEntry;
  try {
    stored = JSON.parse(text) as StoredEntry;
  } catch {
    return undefined;
  }
  if (!stored || typeof stored !== 'object' || typeof stored.tunnelId !== 'string' || typeof stored.streamId !== 'string' || typeof stored.brokerId !== 'string') {
    return undefined;
  }
  const { health, since, ...rest } = stored;
  const entry: PresenceEntry = { ...rest, since: new Date(since ?? 0) };
  return health ? { ...entry, health: { ...health, checkedAt: new Date(health.checkedAt) } } : entry;
}
