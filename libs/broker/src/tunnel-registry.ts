import type { AgentSession } from './agent-session';

/**
 * The live agent streams of each tunnel. A tunnel may have several (an agent connected to
 * several brokers, or a second agent during a restart); nothing here assumes exactly one.
 */
export class TunnelRegistry {
  private readonly sessions = new Map<string, Set<AgentSession>>();

  add(session: AgentSession): void {
    let set = this.sessions.get(session.tunnel.id);
    if (!set) this.sessions.set(session.tunnel.id, (set = new Set()));
    set.add(session);
  }

  remove(session: AgentSession): void {
    const set = this.sessions.get(session.tunnel.id);
    if (!set) return;
    set.delete(session);
    if (set.size === 0) this.sessions.delete(session.tunnel.id);
  }

  /** The least-loaded stream of the tunnel that takes new exchanges, or undefined. */
  pick(tunnelId: string): AgentSession | undefined {
    const set = this.sessions.get(tunnelId);
    if (!set) return undefined;
    let best: AgentSession | undefined;
    for (const s of set) if (s.available && (!best || s.load < best.load)) best = s;
    return best;
  }

  /** True when the tunnel has at least one stream that takes new exchanges. */
  isConnected(tunnelId: string): boolean {
    return this.pick(tunnelId) !== undefined;
  }

  /** Every stream of a tunnel (for revocation: stopping a tunnel drops them all). */
  sessionsOf(tunnelId: string): AgentSession[] {
    return [...(this.sessions.get(tunnelId) ?? [])];
  }

  all(): AgentSession[] {
    const out: AgentSession[] = [];
    for (const set of this.sessions.values()) out.push(...set);
    return out;
  }
}
