import type { AgentSession } from './agent-session';

/**
 * Admitted streams that are not routable yet, by tunnel. Looked up per tunnel on every admission
 * (the stream cap, a replaced stream, revocation): during a reconnect storm thousands are
 * connecting at once, and a scan of all of them per admission made the storm quadratic.
 */
export class ConnectingStreams {
  private readonly byTunnel = new Map<string, Set<AgentSession>>();

  add(s: AgentSession): void {
    let set = this.byTunnel.get(s.tunnel.id);
    if (!set) this.byTunnel.set(s.tunnel.id, (set = new Set()));
    set.add(s);
  }

  delete(s: AgentSession): void {
    const set = this.byTunnel.get(s.tunnel.id);
    if (!set?.delete(s)) return;
    if (set.size === 0) this.byTunnel.delete(s.tunnel.id);
  }

  of(tunnelId: string): AgentSession[] {
    return [...(this.byTunnel.get(tunnelId) ?? [])];
  }

  count(tunnelId: string): number {
    return this.byTunnel.get(tunnelId)?.size ?? 0;
  }

  all(): AgentSession[] {
    const out: AgentSession[] = [];
    for (const set of this.byTunnel.values()) out.push(...set);
    return out;
  }
}
