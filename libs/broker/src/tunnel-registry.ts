import { NO_AGENT_VIEW, type TunnelLiveView } from '@st/live-state';
import type { AgentSession } from './agent-session';
import type { TunnelHealth } from './tunnel-health';

/**
 * The live agent streams of each tunnel. A tunnel may have several (an agent connected to
 * several brokers, or a second agent during a restart); nothing here assumes exactly one.
 */
export class TunnelRegistry {
  private readonly sessions = new Map<string, Set<AgentSession>>();
  private readonly health = new Map<string, TunnelHealth>();

  add(session: AgentSession): void {
    let set = this.sessions.get(session.tunnel.id);
    if (!set) this.sessions.set(session.tunnel.id, (set = new Set()));
    set.add(session);
  }

  /** True while the session is listed (routable or draining). */
  holds(session: AgentSession): boolean {
    return this.sessions.get(session.tunnel.id)?.has(session) ?? false;
  }

  /** False when the session was not listed (it never registered). */
  remove(session: AgentSession): boolean {
    const set = this.sessions.get(session.tunnel.id);
    if (!set || !set.delete(session)) return false;
    if (set.size === 0) this.sessions.delete(session.tunnel.id);
    return true;
  }

  setHealth(tunnelId: string, health: TunnelHealth): void {
    this.health.set(tunnelId, health);
  }

  /** The last report; kept after the agent leaves (its time says how old it is). */
  healthOf(tunnelId: string): TunnelHealth | undefined {
    return this.health.get(tunnelId);
  }

  forgetHealth(tunnelId: string): void {
    this.health.delete(tunnelId);
  }

  /**
   * The stream `preferred` names when it takes new exchanges (a gateway chose it from presence),
   * else the least-loaded stream of the tunnel that does, or undefined.
   */
  pick(tunnelId: string, preferred?: string): AgentSession | undefined {
    const set = this.sessions.get(tunnelId);
    if (!set) return undefined;
    let best: AgentSession | undefined;
    for (const s of set) {
      if (!s.available) continue;
      if (s.connectionId === preferred) return s;
      if (!best || s.load < best.load) best = s;
    }
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

  /** The tunnel's streams here (routable and draining) and its last health, for status and `tunnels get`. */
  liveView(tunnelId: string, brokerId: string): TunnelLiveView {
    const sessions = this.sessionsOf(tunnelId);
    const health = this.healthOf(tunnelId);
    if (sessions.length === 0 && !health) return NO_AGENT_VIEW;
    return {
      connected: this.isConnected(tunnelId),
      health,
      connections: sessions.map((s) => ({
        brokerId,
        streamId: s.connectionId,
        agentInstanceId: s.agentInstanceId,
        since: s.since,
        draining: !s.available,
        health: s.health,
      })),
    };
  }

  all(): AgentSession[] {
    const out: AgentSession[] = [];
    for (const set of this.sessions.values()) out.push(...set);
    return out;
  }
}
