import type { Broker } from '@st/broker';
import type { MetricsRegistry } from '@st/metrics';
import type { Store, TunnelCounts } from '@st/store';

/** A scrape reuses the store's counts this long: Prometheus scraping every 5 s costs one query per 15 s. */
export const TUNNEL_COUNTS_MAX_AGE_MS = 15_000;

/**
 * `st_tunnels{status}`, the statuses users see, in a process serving discovery. The store says
 * which tunnels are stopped (one aggregate query, reused for {@link TUNNEL_COUNTS_MAX_AGE_MS});
 * when the only broker is this process's own (no Redis), its registry says which of the others
 * are running, and the rest are waiting. With Redis the live state is spread over the brokers'
 * presence, so only `started` and `stopped` are reported here (brokers report
 * st_broker_tunnels{status="running"} themselves).
 */
export function observeTunnelStatus(registry: MetricsRegistry, store: Pick<Store, 'countTunnels'>, localBroker: Broker | undefined, now: () => number = Date.now): void {
  let cached: { at: number; counts: Promise<TunnelCounts> } | undefined;
  const counts = (): Promise<TunnelCounts> => {
    if (!cached || now() - cached.at >= TUNNEL_COUNTS_MAX_AGE_MS) {
      const query = store.countTunnels();
      cached = { at: now(), counts: query };
      // A failed query is not kept: the next scrape asks again.
      query.catch(() => {
        if (cached?.counts === query) cached = undefined;
      });
    }
    return cached.counts;
  };
  registry.gauge({
    name: 'st_tunnels',
    help: localBroker
      ? 'Tunnels by status: running (an agent stream takes requests), waiting (started, no agent), stopped (the tunnel or its session)'
      : 'Tunnels by status as stored: started (running or waiting: see st_broker_tunnels on the brokers) or stopped (the tunnel or its session)',
    labelNames: ['status'],
    sample: async () => {
      const { started, stopped } = await counts();
      if (!localBroker) {
        return [
          [['started'], started],
          [['stopped'], stopped],
        ];
      }
      const running = new Set<string>();
      for (const s of localBroker.registry.all()) if (s.available) running.add(s.tunnel.id);
      const live = Math.min(running.size, started);
      return [
        [['running'], live],
        [['waiting'], started - live],
        [['stopped'], stopped],
      ];
    },
  });
}
