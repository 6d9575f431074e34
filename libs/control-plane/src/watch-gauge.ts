import type { ProviderDirectory } from '@st/discovery';
import type { MetricsRegistry } from '@st/metrics';

/**
 * `st_discovery_watches` and `st_discovery_watch_users`: the WatchProviders streams open on this
 * process (gRPC and Connect together) and the users holding them, read from the directory's
 * watch quota on the scrape. Each watch holds a change-feed subscription: a count that only grows
 * is a client that reconnects without closing.
 */
export function observeWatches(registry: MetricsRegistry, directory: Pick<ProviderDirectory, 'openWatches'>): void {
  registry.gauge({ name: 'st_discovery_watches', help: 'WatchProviders streams open on this process (gRPC and Connect)', sample: () => directory.openWatches.watches });
  registry.gauge({ name: 'st_discovery_watch_users', help: 'Users with at least one WatchProviders stream open on this process', sample: () => directory.openWatches.users });
}
