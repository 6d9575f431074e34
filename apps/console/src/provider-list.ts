/** Live status as the console shows it: the words of the provider dropdown's options. */
export type ProviderStatus = 'running' | 'waiting' | 'stopped' | 'unknown';

/** A provider reduced to what the console shows and needs. */
export interface ProviderItem {
  id: string;
  name: string;
  status: ProviderStatus;
  healthy: boolean;
  /** The models it serves now, or the last ones it served while it is stopped or waiting. */
  models: string[];
  sessionName: string;
}

/** WatchProviders' change kinds (the proto enum's numbers). */
export const CHANGE = { ADDED: 1, UPDATED: 2, REMOVED: 3, SYNCED: 4 } as const;
/** TunnelStatus numbers. */
const STATUS: Record<number, ProviderStatus> = { 1: 'running', 2: 'waiting', 3: 'stopped' };

export interface ProviderEventInput {
  change: number;
  provider?: { id: string; name: string; status: number; healthy: boolean; models: string[]; sessionName: string };
}

/**
 * The user's providers from WatchProviders events. One watch starts with an ADDED event per
 * provider and a SYNCED; a re-watch after a drop does the same, and only at its SYNCED does the
 * new snapshot replace the list shown (a provider deleted meanwhile disappears, nothing flickers).
 * Models are remembered per provider: a stopped one reports none, yet the user may still pick
 * it and get the gateway's explanation.
 */
export class ProviderList {
  private shown = new Map<string, ProviderItem>();
  private pending: Map<string, ProviderItem> | undefined;
  private readonly knownModels = new Map<string, string[]>();

  /** A new watch begins: its events build a fresh snapshot until SYNCED. */
  beginSync(): void {
    this.pending = new Map();
  }

  /** Applies one event; returns true when the list shown changed. */
  apply(event: ProviderEventInput): boolean {
    if (event.change === CHANGE.SYNCED) {
      if (!this.pending) return false;
      this.shown = this.pending;
      this.pending = undefined;
      return true;
    }
    const p = event.provider;
    if (!p) return false;
    const target = this.pending ?? this.shown;
    if (event.change === CHANGE.REMOVED) {
      target.delete(p.id);
      return target === this.shown;
    }
    if (p.models.length > 0) this.knownModels.set(p.id, [...p.models]);
    target.set(p.id, {
      id: p.id,
      name: p.name,
      status: STATUS[p.status] ?? 'unknown',
      healthy: p.healthy,
      models: p.models.length > 0 ? [...p.models] : (this.knownModels.get(p.id) ?? []),
      sessionName: p.sessionName,
    });
    return target === this.shown;
  }

  /** The providers shown, by name. */
  items(): ProviderItem[] {
    return [...this.shown.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
