import { describe, expect, it } from 'vitest';
import { ChangeFeed } from '@st/events';
import { silentLogger } from '@st/logging';
import { ProviderChange } from '@st/proto';
import type { Store, Tunnel } from '@st/store';
import { type ProviderEvent, ProviderDirectory } from './provider-directory';

const tunnel: Tunnel = {
  id: 'tun_1',
  userId: 'usr_1',
  name: 'gpu',
  remoteHost: 'localhost',
  remotePort: 8000,
  openai: true,
  state: 'started',
  sessionId: null,
  hasUpstreamKey: false,
  createdAt: new Date(0).toISOString(),
};

describe('ProviderDirectory watch', () => {
  it('recomputes a tunnel once for a burst of its changes, and reports the newest state', async () => {
    let reads = 0;
    const store = {
      listTunnels: async () => [tunnel],
      getTunnelForUser: async () => {
        reads++;
        return tunnel;
      },
      getSession: async () => null,
    } as unknown as Store;
    let models = ['a'];
    const runtime = { viewOf: () => Promise.resolve({ connected: true, health: { healthy: true, models, error: '', checkedAt: new Date(0) }, connections: [] }) };
    const feed = new ChangeFeed();
    const directory = new ProviderDirectory({ store, runtime, feed, publicUrl: 'http://gw', logger: silentLogger() });
    const events: ProviderEvent[] = [];
    const watch = directory.watch('usr_1', (e) => events.push(e));
    while (!events.some((e) => e.change === ProviderChange.PROVIDER_CHANGE_SYNCED)) await new Promise((r) => setImmediate(r));
    // 1,000 health reports in one turn, each changing the model list.
    for (let i = 0; i < 1_000; i++) {
      models = [`m${i}`];
      feed.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_1', reason: 'health' });
    }
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    watch.close();
    expect(reads).toBe(1);
    expect(events.map((e) => ProviderChange[e.change])).toEqual(['PROVIDER_CHANGE_ADDED', 'PROVIDER_CHANGE_SYNCED', 'PROVIDER_CHANGE_UPDATED']);
    expect(events.at(-1)?.provider?.models).toEqual(['m999']);
  });
});
