import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '@st/metrics';
import { observeWatches } from './watch-gauge';

describe('st_discovery_watches', () => {
  it('reads the open watches and their users on the scrape', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const open = { watches: 3, users: 2 };
    observeWatches(registry, { get openWatches() { return open; } });
    let text = await registry.metrics();
    expect(text).toMatch(/^st_discovery_watches 3$/m);
    expect(text).toMatch(/^st_discovery_watch_users 2$/m);
    open.watches = 0;
    open.users = 0;
    text = await registry.metrics();
    expect(text).toMatch(/^st_discovery_watches 0$/m);
  });
});
