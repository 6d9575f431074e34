import type { PresenceEntry } from '@st/live-state';

/** What the choice knows besides presence: this gateway's own view of the brokers. */
export interface StreamChoiceContext {
  /** Exchanges this gateway has open on the entry's broker right now. */
  openOn(entry: PresenceEntry): number;
  /** True for a broker an exchange recently could not reach: tried only when nothing else is left. */
  suspect(entry: PresenceEntry): boolean;
  /** True for the broker in this process (no gRPC hop): wins a tie. */
  local(entry: PresenceEntry): boolean;
  /** Streams this exchange already tried (`streamKey`): never chosen again. */
  tried: ReadonlySet<string>;
  /** Brokers this exchange already tried: another broker is preferred on the retry. */
  triedBrokers: ReadonlySet<string>;
  /** [0, 1); breaks the remaining ties so that gateways do not all pile on the same stream. */
  random: () => number;
}

/** A stream's identity across brokers (stream ids are unique only within their broker). */
export function streamKey(entry: Pick<PresenceEntry, 'brokerId' | 'streamId'>): string {
  return `${entry.brokerId}\n${entry.streamId}`;
}

/**
 * The stream one exchange goes to, or undefined when no live, non-draining, untried stream is
 * left. In order of importance: a broker not tried yet by this exchange, a broker not recently
 * unreachable, a healthy stream (one with no report yet before an unhealthy one), the fewest open
 * exchanges (the broker's count in presence, refreshed with the lease, plus this gateway's own,
 * which reacts at once to a burst), then this process's broker, then chance.
 */
export function chooseStream(entries: readonly PresenceEntry[], ctx: StreamChoiceContext): PresenceEntry | undefined {
  let best: PresenceEntry[] = [];
  let bestRank: number[] | undefined;
  for (const entry of entries) {
    if (entry.draining || ctx.tried.has(streamKey(entry))) continue;
    const rank = [
      ctx.triedBrokers.has(entry.brokerId) ? 1 : 0,
      ctx.suspect(entry) ? 1 : 0,
      healthRank(entry),
      (entry.load ?? 0) + ctx.openOn(entry),
      ctx.local(entry) ? 0 : 1,
    ];
    const order = bestRank ? compareRanks(rank, bestRank) : -1;
    if (order < 0) {
      best = [entry];
      bestRank = rank;
    } else if (order === 0) best.push(entry);
  }
  if (best.length <= 1) return best[0];
  return best[Math.min(best.length - 1, Math.floor(ctx.random() * best.length))];
}

function healthRank(entry: PresenceEntry): number {
  if (!entry.health) return 1;
  return entry.health.healthy ? 0 : 2;
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
